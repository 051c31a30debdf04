"""HTML pages for the synthetic-page parity test: each shows the original's steps, or one departure from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "synth"


@dataclass(frozen=True)
class HtmlCase:
    name: str
    html: str
    departure: str | None = None
    """The departure this case shows (None: the original's behaviour, departures that apply to every page aside)."""


def _page(body: str, lang: str = "en", head: str = "<title>Case</title>") -> str:
    head = f'<head><meta charset="utf-8">{head}</head>'
    return f'<!DOCTYPE html>\n<html lang="{lang}">{head}\n<body>\n{body}\n</body></html>'


REPORT = (ASSETS / "report.html").read_text(encoding="utf-8")
_SENTENCES = " ".join(
    f"Sentence number {word} of the long minutes reports a decision of the board." for word in
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split()
)  # fmt: skip
_HEADINGS_TABLE = """<table>
<tr><th>Station</th><th>Jan<sup>a</sup></th><th>Feb</th><th>Mar</th></tr>
<tr><th rowspan="2">Coastal</th><td>11.5</td><td>12.25</td><td>14.0</td></tr>
<tr><td>10.75</td><td>13.5</td><td>15.25</td></tr>
<tr><th>Inland</th><td>H<sub>2</sub>O 4.5</td><td>6.75</td><td>9.5</td></tr>
<tr><th>Mountain</th><td>-3.25</td><td>-1.5</td><td>2.75</td></tr>
</table>"""
_COLSPAN_TABLE = """<table>
<tr><th colspan="2">Region and district</th><th>Total votes</th></tr>
<tr><td>Northern</td><td>Eastfield</td><td>1204</td></tr>
<tr><td>Southern</td><td>Westbrook</td><td>987</td></tr>
<tr><td>Central</td><td>Midvale</td><td>1530</td></tr>
</table>"""

CASES = (
    HtmlCase("report", REPORT, "reference-passes"),  # page number 7 is in the table, which the original cuts first
    HtmlCase(
        "row-headings",
        _page(
            f'<div class="page-header">Weather Bureau Monthly</div>\n<h2>Mean temperatures</h2>\n{_HEADINGS_TABLE}'
            "\n<p>All readings in degrees Celsius, taken at noon.</p>"
            '\n<span class="line-number">12</span><div class="page-footer">Printed in 1962</div>'
        ),
    ),  # fmt: skip
    HtmlCase(
        "colspan-shift",
        _page(f"<h1>Election results by district</h1>\n<p>The count closed at midnight.</p>\n{_COLSPAN_TABLE}"),
        "table-scorer",
    ),
    HtmlCase(
        "nested-header",
        REPORT.replace("<body>\n", '<body>\n<div class="page">\n').replace("\n</body>", "\n</div>\n</body>"),
        "nested-header",
    ),
    HtmlCase("ragged-table", (ASSETS / "ragged.html").read_text(encoding="utf-8"), "ragged-table"),
    HtmlCase(
        "norwegian",
        _page("<h1>Referat fra styremøtet</h1><p>Styret vedtok budsjettet for neste år.</p>", "no"),
        "language-quoting",
    ),  # fmt: skip
    HtmlCase(
        "brazilian", _page("<h1>Relatório anual</h1><p>O conselho aprovou o orçamento do próximo ano.</p>", "pt-BR")
    ),
    HtmlCase("many-sentences", _page(f"<h1>Minutes of the board</h1>\n<p>{_SENTENCES}</p>"), "present-tests"),
    HtmlCase("fragment", "<h2>Notice to members</h2><p>The annual meeting moves to the first Friday of May.</p>"),
    HtmlCase(
        "math", _page("<p>Energy $$E = mc^2$$ and \\(a^2 + b^2 = c^2\\) and \\[\\int_0^1 x\\,dx\\]; \\(x\\).</p>")
    ),
)
NESTED_OF = {"nested-header": "report"}
"""A case whose page is another case's page inside a wrapper: vlm_ocr must make the same tests as for that page."""
SEEDS = (0, 1, 7)
