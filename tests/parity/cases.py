"""The pairs the parity suite feeds to both pipelines: fixtures, generated sample data and edge cases."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfgen.canvas import Canvas

LETTER = (612.0, 792.0)
PROSE = "The quick brown fox jumps over the lazy dog near the river bank."


@dataclass(frozen=True)
class Case:
    """One generated pair; `departure` names the expected difference (departures.py), None: identical."""

    stem: str
    markdown: str | bytes
    size: tuple[float, float] = LETTER
    crop: tuple[float, float, float, float] | None = None
    rotate: int = 0
    departure: str | None = None


def front_matter(language="en", valid="True", rotation="0", table="False", extra="") -> str:
    lines = ["---", f"primary_language: {language}", f"is_rotation_valid: {valid}", f"rotation_correction: {rotation}"]
    lines += [f"is_table: {table}", "is_diagram: False", *([extra] if extra else []), "---"]
    return "\n".join(lines) + "\n"


def page(text: str, **front) -> str:
    return front_matter(**front) + text + "\n"


LONG_ANSWER = " ".join(f"word{i} and more" for i in range(3500))  # about 10k tokens: past 8192 with the image

EDGE_CASES = [
    # page boxes and sizes: the original renders the MediaBox with pdfinfo + pdftoppm arithmetic
    Case("crop_box", page(PROSE), crop=(50, 60, 500, 700)),
    Case("crop_box_rotated", page(PROSE), crop=(0, 0, 612, 500), rotate=90),
    Case("tiny_page", page("Tiny."), size=(100, 50)),
    Case("huge_page", page(PROSE), size=(3000, 2000)),
    Case("a4_fractional", page(PROSE), size=(595.276, 841.89)),
    Case("odd_decimals", page(PROSE), size=(587.6, 2623.49)),
    Case("square_page", page(PROSE), size=(800, 800), departure="prompt-overlong"),  # 2116 image tokens
    # front matter spellings
    Case("lang_upper", page(PROSE, language="EN")),
    Case("lang_word", page(PROSE, language="English")),
    Case("lang_region", page(PROSE, language="pt-BR")),
    Case("lang_none_lower", page(PROSE, language="none")),
    Case("lang_none_legacy", page(PROSE, language="None")),
    Case("lang_null", page(PROSE, language="null")),
    Case("lang_norwegian", page("Hei verden.", language="no"), departure="norwegian-no"),
    Case("crlf", page(PROSE).replace("\n", "\r\n")),
    Case("bool_yes", page(PROSE, table="yes")),
    Case("bool_junk", page(PROSE, table="maybe"), departure="junk-boolean"),
    Case("bom", ("\ufeff" + page(PROSE)).encode("utf-8"), departure="bom"),
    Case("extra_key", page(PROSE, extra="page_number: 3"), departure="extra-keys"),
    Case("rotated", page(PROSE, valid="False", rotation="90")),
    Case("empty_text", front_matter()),
    # text rules
    Case("cite_in_table", page(r"<table><tr><td>see \cite{x}</td></tr></table>")),
    Case("separator_without_outer_pipes", page("| a | b |\n---|---\n| 1 | 2 |")),
    Case("markdown_table", page("| a | b |\n|---|---|\n| 1 | 2 |")),
    Case("pipe_rows_with_dates", page("| 2020-01 | b |\n| 2020-02 | c |"), departure="pipe-rows-dates"),
    Case(
        "nested_html_table",
        page("<table><tr><td><table><tr><td>x</td></tr></table></td></tr></table>"),
        departure="nested-html-table",
    ),
    Case("bold_italic", page(r"\textbf{\textit{both}} and \textit{\textbf{both}} here")),
    Case("nested_bold", page(r"\textbf{a \textbf{b} c} here"), departure="textbf-rule"),
    Case("unclosed_bold", page(r"an unclosed \textbf{bold"), departure="textbf-rule"),
    Case("whole_commands", page(r"\top and \today and C:\tools"), departure="latex-whole-command"),
    Case("symbol_in_math", page(r"sets \(x ∈ A\) here"), departure="symbol-in-math"),
    Case("symbol_in_table", page("<table><tr><td>∈</td></tr></table>")),
    Case("symbol_in_text", page("x ∈ A")),
    Case("good_math", page(r"Pythagoras \(a^2+b^2=c^2\) and \[\frac{1}{2}\]")),
    Case("bad_math", page(r"broken \(\frac{a}\) here")),
    Case("tablespoon", page("Add a <tablespoon> of salt.")),
    # length
    Case("long_answer", page(LONG_ANSWER), departure="overlong-drop"),
]


def write_pdf(path: Path, case: Case) -> None:
    """A one-page PDF with a few lines of text; boxes and /Rotate as the case says."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=case.size)
    if case.crop:
        canvas.setCropBox(case.crop)
    if case.rotate:
        canvas.setPageRotation(case.rotate)
    width, height = case.size
    font = max(2.0, min(width, height) / 40)
    canvas.setFont("Helvetica", font)
    for line in range(8):
        canvas.drawString(width * 0.1, height * (0.9 - 0.1 * line), f"{line} {PROSE}")
    canvas.rect(width * 0.05, height * 0.05, width * 0.9, height * 0.9)
    canvas.showPage()
    canvas.save()
    path.write_bytes(buffer.getvalue())


def write_edge_cases(root: Path) -> dict[str, Case]:
    """Every edge case as root/<stem>.pdf + .md; returns them by Markdown path."""
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for case in EDGE_CASES:
        markdown = root / f"{case.stem}.md"
        data = case.markdown if isinstance(case.markdown, bytes) else case.markdown.encode("utf-8")
        markdown.write_bytes(data)
        write_pdf(root / f"{case.stem}.pdf", case)
        written[str(markdown.resolve())] = case
    return written


def copy_fixture_pairs(fixtures: Path, root: Path) -> None:
    """The olmOCR sample pairs, and the single-page fixture PDFs (scan, tiny, skinny, rotated) with a text."""
    shutil.copytree(fixtures / "olmocr_sample_dataset", root / "olmocr_sample_dataset")
    pdfs = root / "fixture_pdfs"
    pdfs.mkdir()
    for name in ("edgar", "edgar_image", "edgar-rotated90", "small_page_size", "skinnypage", "ambiguous"):
        shutil.copy(fixtures / "pdfs" / f"{name}.pdf", pdfs / f"{name}.pdf")
        (pdfs / f"{name}.md").write_text(page(PROSE))
