"""The Jinja2 environments every report page and section is rendered with (templates: ``figures/templates``).

Templates named ``*.html.j2`` autoescape every value; ``*.md.j2`` do not. HTML
escaping is :func:`html.escape` (quotes included), the spelling the report used
before it came from templates, so the pages are byte-for-byte comparable. A
value that is already markup (``Markup``, ``|safe``: a caller-supplied section
body, a rendered section) passes unchanged.
"""

from __future__ import annotations

import html
from functools import lru_cache
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


def _md_text(text: object) -> str:
    """Text on one Markdown line (outside tables)."""
    return str(text).replace("\n", " ")


def _md_cell(text: object) -> str:
    """Text in one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _escape_html(value: object) -> object:
    """Every value printed into HTML, escaped as :func:`html.escape` does unless it is already markup."""
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value)))


def _environment(autoescape: bool) -> Environment:
    env = Environment(loader=PackageLoader("figures", "templates"), autoescape=autoescape,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      finalize=_escape_html if autoescape else None)
    env.filters.update(md_text=_md_text, md_cell=_md_cell, urlquote=quote)
    return env


@lru_cache(maxsize=2)
def environment(autoescape: bool) -> Environment:
    """The environment for HTML (``autoescape=True``) or Markdown templates."""
    return _environment(autoescape)


def render(name: str, **context: object) -> str:
    """Render template ``name`` (``*.html.j2`` autoescaped, anything else not) with ``context``."""
    return environment(name.endswith(".html.j2")).get_template(name).render(**context)


def render_html(name: str, **context: object) -> Markup:
    """Render an HTML template as markup (a section body another template embeds unescaped)."""
    return Markup(render(name, **context))
