"""The Jinja2 environments every report page and section is rendered with (templates: ``figures/templates``).

Templates named ``*.html.j2`` autoescape every value; ``*.md.j2`` do not. HTML
escaping is :func:`html.escape` (quotes included), the spelling the report used
before it came from templates, so the pages are byte-for-byte comparable. A
value that is already markup (``Markup``, ``|safe``: a caller-supplied section
body, a rendered section) passes unchanged.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
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


@lru_cache(maxsize=2)
def environment(autoescape: bool) -> Environment:
    """The environment for HTML (``autoescape=True``) or Markdown templates."""
    env = Environment(loader=PackageLoader("figures", "templates"), autoescape=autoescape,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      finalize=_escape_html if autoescape else None)
    env.filters.update(md_text=_md_text, md_cell=_md_cell, urlquote=quote)
    return env


def render(template: str, /, **context: object) -> str:
    """Render ``template`` (``*.html.j2`` autoescaped, anything else not) with ``context``."""
    return environment(template.endswith(".html.j2")).get_template(template).render(**context)


def data_uri(path: str | os.PathLike | None) -> str | None:
    """The file as a ``data:`` URI (type from its name, PNG when unknown); None when there is no such file."""
    if path is None or not Path(path).is_file():
        return None
    path = Path(path)
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_section(section: str, /, **context: object) -> str:
    """A report section body (``sections/<section>.html.j2``), without the template file's final newline."""
    return render(f"sections/{section}.html.j2", **context).removesuffix("\n")


@dataclass(frozen=True)
class Grid:
    """A plain HTML table of a report section (``_html.j2`` ``grid``): cells as text."""

    headers: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    numeric: tuple[bool, ...] = ()
    highlight: tuple[bool, ...] = ()


def grid(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[bool] | None = None,
         highlight: Sequence[bool] | None = None) -> Grid:
    """A :class:`Grid` of ``rows`` under ``headers``."""
    return Grid(tuple(headers), tuple(tuple(r) for r in rows), tuple(numeric or ()), tuple(highlight or ()))
