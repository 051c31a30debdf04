"""A deterministic generator of single-page PDF + Markdown pairs in the olmOCR-mix layout (the embedded sample data)."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reportlab.lib.pagesizes import letter
from reportlab.pdfgen.canvas import Canvas

from vlm_ocr.errors import InputError
from vlm_ocr.pages.files import atomic_write_bytes, atomic_write_text
from vlm_ocr.pages.front_matter import PageResponse, format_page_markdown
from vlm_ocr.pages.rotation import CORRECTION

WORDS = (
    "page model document reading order table figure section result method training data token image layout "
    "column paragraph heading caption archive letter record value report survey sample measure period region "
    "history library county office volume index summary review analysis north south river field market"
).split()
GERMAN = "das die der und ist ein eine mit von zu im auf nicht auch sich Bericht Seite Jahr Stadt Haus".split()
WIDTH, HEIGHT = letter
MARGIN, LINE = 72, 16


@dataclass(frozen=True)
class TextSize:
    """How much text a generated page holds."""

    sentences: tuple[int, int]  # sentences per paragraph, lowest and highest
    words: tuple[int, int]  # words per sentence
    items: int  # list items, table rows
    sections: int  # paragraphs of a document page (each after the first under a "Method" heading)
    font_scale: float = 1.0  # text drawn this many times larger (tables excepted)


SIZES: dict[str, TextSize] = {
    "full": TextSize(sentences=(2, 4), words=(6, 12), items=4, sections=2),
    # What a tiny model learns in minutes: at the demo's 224 px a 12 pt line is a 3 px smudge, and two pages that
    # differ only in smudges stay one answer for both for hundreds of steps; text 2.5 times larger separates them.
    "short": TextSize(sentences=(1, 1), words=(3, 5), items=2, sections=1, font_scale=2.5),
}
FULL = SIZES["full"]


@dataclass
class PageContent:
    """What a generated page shows: drawing instructions and the matching Markdown."""

    blocks: list[tuple[str, str]]  # (kind, text) with kind in heading/para/item/table/equation
    page: PageResponse
    rotate: int = 0  # content turned counter-clockwise by this many degrees


def _sentence(rng: random.Random, words: list[str], n: int) -> str:
    text = " ".join(rng.choice(words) for _ in range(n))
    return text[0].upper() + text[1:] + "."


def _paragraph(rng: random.Random, words: list[str] = WORDS, size: TextSize = FULL) -> str:
    count = rng.randint(*size.sentences)
    return " ".join(_sentence(rng, words, rng.randint(*size.words)) for _ in range(count))


def _page(text: str | None, language: str | None = "en", table: bool = False, rotation: int = 0) -> PageResponse:
    return PageResponse(language, rotation == 0, rotation, table, False, text)


def document_page(rng: random.Random, size: TextSize = FULL) -> PageContent:
    title = _sentence(rng, WORDS, 3)[:-1]
    paras = [_paragraph(rng, size=size) for _ in range(size.sections)]
    blocks, markdown = [("heading", title), ("para", paras[0])], f"# {title}\n\n{paras[0]}"
    for para in paras[1:]:
        blocks += [("heading", "Method"), ("para", para)]
        markdown += f"\n\n## Method\n\n{para}"
    return PageContent(blocks, _page(markdown))


def list_page(rng: random.Random, size: TextSize = FULL) -> PageContent:
    items = [_sentence(rng, WORDS, rng.randint(4, 7)) for _ in range(size.items)]
    intro = _paragraph(rng, size=size)
    blocks = [("para", intro)] + [("item", f"- {item}") for item in items]
    return PageContent(blocks, _page(intro + "\n\n" + "\n".join(f"- {item}" for item in items)))


def table_page(rng: random.Random, size: TextSize = FULL) -> PageContent:
    header = ["Region", "Year", "Value"]
    rows = [
        [rng.choice(WORDS).title(), str(rng.randint(1900, 2020)), str(rng.randint(10, 999))] for _ in range(size.items)
    ]
    html = "<table>\n<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>\n"
    html += "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>\n" for row in rows) + "</table>"
    blocks = [("heading", "Table 1"), ("table", "\t".join(header) + "\n" + "\n".join("\t".join(r) for r in rows))]
    return PageContent(blocks, _page(f"# Table 1\n\n{html}", table=True))


def equation_page(rng: random.Random, size: TextSize = FULL) -> PageContent:
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    para = _paragraph(rng, size=size)
    blocks = [("para", para), ("equation", f"E = {a}mc^{b}"), ("para", "where m is the mass.")]
    return PageContent(blocks, _page(f"{para}\n\n\\[E = {a}mc^{{{b}}}\\]\n\nwhere m is the mass."))


def german_page(rng: random.Random, size: TextSize = FULL) -> PageContent:
    para = _paragraph(rng, GERMAN, size)
    return PageContent([("heading", "Bericht"), ("para", para)], _page(f"# Bericht\n\n{para}", language="de"))


def blank_page(rng: random.Random, size: TextSize = FULL) -> PageContent:
    return PageContent([], _page(None, language=None))


def rotated_page(rng: random.Random, size: TextSize = FULL) -> PageContent:
    para = _paragraph(rng, size=size)
    return PageContent([("para", para)], _page(para, rotation=CORRECTION[90]), rotate=90)  # olmOCR's label: 270


KINDS: dict[str, Callable[[random.Random, TextSize], PageContent]] = {
    "document": document_page,
    "list": list_page,
    "table": table_page,
    "equation": equation_page,
    "german": german_page,
    "blank": blank_page,
    "rotated": rotated_page,
}


def draw_pdf(content: PageContent, font_scale: float = 1.0) -> bytes:
    """One-page PDF with fixed metadata, so the same content gives the same bytes; text `font_scale` times the
    usual size (headings and lines wrapped to the page), tables at their usual size."""
    import io

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=letter, invariant=1, pageCompression=1)
    if content.rotate:
        canvas.translate(WIDTH, 0)
        canvas.rotate(content.rotate)  # counter-clockwise, so the label is CORRECTION[rotate]
    width = HEIGHT if content.rotate in (90, 270) else WIDTH
    y = (WIDTH if content.rotate in (90, 270) else HEIGHT) - MARGIN
    line = LINE * font_scale
    for kind, text in content.blocks:
        if kind == "heading":
            canvas.setFont("Helvetica-Bold", 16 * font_scale)
            for part in textwrap.wrap(text, int((width - 2 * MARGIN) / (10 * font_scale))):
                canvas.drawString(MARGIN, y, part)
                y -= line * 1.8
        elif kind == "table":
            canvas.setFont("Helvetica", 11)
            for row in text.split("\n"):
                for c, cell in enumerate(row.split("\t")):
                    canvas.rect(MARGIN + c * 130, y - 5, 130, LINE + 4)
                    canvas.drawString(MARGIN + c * 130 + 6, y, cell)
                y -= LINE + 4
            y -= LINE
        else:
            canvas.setFont("Times-Italic" if kind == "equation" else "Times-Roman", 12 * font_scale)
            chars = int((width - 2 * MARGIN) / (6 * font_scale))
            for part in textwrap.wrap(text, chars):
                canvas.drawString(MARGIN + (120 if kind == "equation" else 0), y, part)
                y -= line
            y -= line * 0.6
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def write_pair(folder: Path, stem: str, content: PageContent, font_scale: float = 1.0) -> None:
    atomic_write_bytes(folder / f"{stem}.pdf", draw_pdf(content, font_scale))
    atomic_write_text(folder / f"{stem}.md", format_page_markdown(content.page))


def generate_sample_data(
    out: str | Path,
    train_per_kind: int = 3,
    eval_per_kind: int = 1,
    seed: int = 0,
    train_kinds: list[str] | None = None,
    text: Literal["full", "short"] = "full",
) -> Path:
    """Write `out/train` and `out/eval` pair trees; deterministic in `seed`.

    Args:
        out: output folder.
        train_per_kind: training pages per kind.
        eval_per_kind: evaluation pages per kind (every kind).
        seed: seed of the generated text.
        train_kinds: the kinds of the training pages (None: every kind; see KINDS).
        text: `full` (paragraphs of several sentences, four list items or table rows) or `short` (one sentence
            of a few words, two items or rows, drawn 2.5 times larger).
    """
    out, size = Path(out), SIZES[text]
    unknown = sorted(set(train_kinds or []) - set(KINDS))
    if unknown:
        raise InputError(f"--train_kinds: unknown page kinds {unknown}", f"use some of {list(KINDS)}")
    splits = (("train", train_per_kind, 0, train_kinds or list(KINDS)), ("eval", eval_per_kind, 10_000, list(KINDS)))
    for split, per_kind, offset, kinds in splits:
        for kind_index, (kind, make) in enumerate(KINDS.items()):
            for i in range(per_kind if kind in kinds else 0):
                rng = random.Random(seed * 1_000_003 + offset + kind_index * 1000 + i)
                write_pair(out / split / kind, f"{kind}_{i:03d}", make(rng, size), size.font_scale)
    return out
