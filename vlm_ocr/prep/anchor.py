"""Anchor text with pdfplumber: a page's text lines and image boxes with coordinates (origin bottom-left)."""

from __future__ import annotations

from pathlib import Path

import pdfplumber

from vlm_ocr.pages.pdf import PdfError

DEFAULT_ANCHOR_LENGTH = 4000


def anchor_text(path: str | Path, page_index: int, target_length: int = DEFAULT_ANCHOR_LENGTH) -> str:
    """The "pdfreport" anchor of one page: its size, `[Image x0xy0 to x1xy1]` boxes and `[xxy]text` lines.

    Lines come in reading order (top to bottom); when the report exceeds `target_length` characters,
    trailing lines are left out, so the result never exceeds it (the header line always stays).
    """
    try:
        with pdfplumber.open(path) as pdf:
            if not 0 <= page_index < len(pdf.pages):
                raise PdfError(path, f"page {page_index + 1} out of range (the PDF has {len(pdf.pages)} pages)")
            page = pdf.pages[page_index]
            height = float(page.height)
            lines = [f"Page dimensions: {float(page.width):.1f}x{height:.1f}"]
            for image in page.images:
                x0, y0, x1, y1 = image["x0"], height - image["bottom"], image["x1"], height - image["top"]
                lines.append(f"[Image {x0:.0f}x{y0:.0f} to {x1:.0f}x{y1:.0f}]")
            for line in page.extract_text_lines(return_chars=False, x_tolerance=1):
                text = line["text"].strip()
                if text:
                    lines.append(f"[{line['x0']:.0f}x{height - line['bottom']:.0f}]{text}")
    except PdfError:
        raise
    except Exception as err:  # pdfminer raises many unrelated types for broken files
        raise PdfError(path, f"cannot extract anchor text: {type(err).__name__}: {err}") from None
    report = lines[0]
    for line in lines[1:]:
        if len(report) + 1 + len(line) > target_length:
            break
        report += "\n" + line
    return report
