"""The report's Markdown and HTML come from the Jinja2 templates in figures/templates (package data)."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from stats.analysis import Analysis
from figures.report import Figure, Heading, Para, Summary, Table, VerdictItem, Verdicts, write_report
from figures.templating import environment, grid, render, render_section

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _table() -> Table:
    return Table(("metric", "r [95% CI]", "p"), (("blur <sharpness>", "0.31 [0.05, 0.52]", "0.012"),
                                                 ("contrast", "-0.12 [-0.40, 0.18]", "0.41")),
                 ("text", "num", "num"), (True, False))


def _both(blocks) -> tuple[str, str]:
    return render("report.md.j2", blocks=blocks), render("report.html.j2", title="t <1>", blocks=blocks)


def test_html_escapes_values_and_markdown_keeps_them():
    md, page = _both([Heading("A <b>heading</b> & more"), Para("x < y & 'q'", "note"), _table()])
    assert "## A <b>heading</b> & more\n" in md and "x < y & 'q'\n" in md
    assert "<h2>A &lt;b&gt;heading&lt;/b&gt; &amp; more</h2>" in page
    assert '<p class="note">x &lt; y &amp; &#x27;q&#x27;</p>' in page   # quotes too, as html.escape does
    assert "<title>t &lt;1&gt;</title>" in page and "blur &lt;sharpness&gt;" in page
    assert "<b>heading" not in page


def test_markdown_and_html_show_the_same_numbers():
    md, page = _both([_table()])
    md_cells = [c.strip() for line in md.splitlines()[2:] for c in line.strip("|").split("|")]
    html_cells = re.findall(r"<td[^>]*>(.*?)</td>", page)
    assert [NUMBER.findall(c) for c in md_cells] == [NUMBER.findall(c) for c in html_cells]
    assert NUMBER.findall(" ".join(md_cells)) == ["0.31", "0.05", "0.52", "0.012", "0.12", "0.40", "0.18", "0.41"]
    assert '<tr class="signif"><td class="text">blur' in page and page.count('class="signif"') == 1


def test_markdown_table_cells_escape_pipes_and_newlines():
    md = render("report.md.j2", blocks=[Table(("a|b",), (("x|y\nz",),), ("text",), (False,))])
    assert md == "| a\\|b |\n|---|\n| x\\|y z |\n"


def test_blocks_are_one_blank_line_apart_in_markdown_and_one_newline_in_html():
    md, page = _both([Heading("One"), Para("two"), Summary((("Device", "cpu"),))])
    assert md == "## One\n\ntwo\n\n- **Device:** cpu\n"
    assert "<body>\n<h2>One</h2>\n<p>two</p>\n<ul class=\"summary\"><li><b>Device:</b> cpu</li></ul>\n<script>" in page


def test_verdict_block_in_both_formats():
    item = VerdictItem("supported", "#1a7f37", "white", "blur <drives> FPs", "q = 0.01", None, _table())
    md, page = _both([Verdicts("intro", (item,))])
    assert md.startswith("intro\n\n- **[SUPPORTED]** blur <drives> FPs  \n  q = 0.01\n\n| metric |")
    assert ('<div class="verdict" style="--status:#1a7f37"><span class="badge" style="background:#1a7f37;'
            'color:white">supported</span><span class="claim">blur &lt;drives&gt; FPs</span><p>q = 0.01</p><table>'
            in page)


def test_figure_links_in_markdown_and_embeds_in_html():
    md, page = _both([Figure("Figure 1 <n>", "figs/a b.png", "data:image/png;base64,AAAA")])
    assert md == "![Figure 1 <n>](figs/a%20b.png)\n\n*Figure 1 <n>*\n"
    assert '<img src="data:image/png;base64,AAAA" alt="Figure 1 &lt;n&gt;">' in page


def test_missing_sections_are_omitted(tmp_path):
    paths = write_report(tmp_path, analysis=Analysis(n_images=3), run_info={}, split_metrics={}, figures={},
                         gallery=None, tables={}, title="bare")
    md, page = paths["md"].read_text(), paths["html"].read_text()
    assert "WARNING" not in md and 'class="warning"' not in page          # no warnings: no box at all
    assert "Other figures" not in md and "Other figures" not in page     # no extra figures: no heading
    assert "No power analysis was provided." in md and "No power analysis was provided." in page
    assert "Open the error gallery" not in md and "No gallery was written for this report." in page


def test_grid_and_missing_figure_in_a_section():
    body = render_section("road", excluded="No map excluded.", table=None, figure=None)
    assert '<p class="missing">Faithfulness not computed.</p>' in body
    assert '<p class="missing">Figure missing: Mean ROAD curves (dashed: random blocks at the map&#x27;s' in body
    body = render_section("road", excluded="e", figure=None,
                          table=grid(["a", "b"], [["<1>", 2]], [False, True], [True]))
    assert '<tr class="signif"><td>&lt;1&gt;</td><td class=num>2</td></tr>' in body


def test_counterfactual_section_escapes_what_it_is_given():
    from figures.counterfactual_plots import counterfactual_section

    from xai.counterfactual_result import CounterfactualResult, CounterfactualVerdict

    result = CounterfactualResult(Path("/nonexistent"), split="te<st", warnings=("w <1>",),
                                  verdict=CounterfactualVerdict(headline="h & h", statements=("s<",)))
    _, body = counterfactual_section(result)
    assert "te&lt;st split" in body and '<div class="warning"><p>w &lt;1&gt;</p></div>' in body
    assert '<p class="claim">h &amp; h</p><p>s&lt;</p>' in body and "te<st" not in body


def test_html_templates_autoescape_and_markdown_templates_do_not():
    assert environment(True).autoescape and not environment(False).autoescape
    assert render("report.md.j2", blocks=[Para("<&>")]) == "<&>\n"


@pytest.mark.parametrize("template", sorted(p.relative_to(ROOT / "figures").as_posix()
                                            for p in (ROOT / "figures" / "templates").rglob("*.j2")))
def test_every_template_is_package_data(template):
    """A non-editable install ships each template: it matches a package-data pattern of figures."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["figures"]
    assert any(fnmatch(template, p) for p in patterns), template
    environment(template.endswith(".html.j2")).get_template(template.removeprefix("templates/"))  # parses
