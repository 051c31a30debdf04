"""A page's HTML as a one-page PDF at the source page's size, shrunk step by step (the original's scales) until
it fits on one page; the source page's size and the image the chat model sees."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pypdf

from vlm_ocr.katex.print_page import POINTS_PER_CSS_PIXEL, print_html_to_pdf
from vlm_ocr.pages.pdf import PDFIUM_LOCK, RenderSpec, media_box_as_poppler_reads_it, open_pdf, render_page_png

SCALES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
"""Print scales tried in order, the original's: the first that gives one page is kept."""
IMAGE_LONGEST_SIDE = 1024
"""Longest side in pixels of the page image the chat model sees (the original's)."""


@dataclass(frozen=True)
class PageGeometry:
    """The source page as displayed (points) and the viewport the chat model is told (its image's pixels)."""

    width_pt: float
    height_pt: float
    viewport: tuple[int, int]

    def zoom(self, scale: float) -> float:
        """Chromium's zoom that lays the viewport's width out across the page, times the print `scale`."""
        return self.width_pt / POINTS_PER_CSS_PIXEL / self.viewport[0] * scale


@dataclass(frozen=True)
class RenderedPage:
    pdf: bytes
    scale: float


class Overflow(ValueError):
    """The HTML needs more than one page even at the smallest scale."""


def source_page(path: str | Path, page_index: int) -> tuple[bytes, PageGeometry]:
    """The page's image for the chat model (PNG, poppler's size) and its geometry (MediaBox, /Rotate honoured)."""
    png, viewport = render_page_png(path, page_index, RenderSpec(longest_side=IMAGE_LONGEST_SIDE))
    x0, y0, x1, y1 = media_box_as_poppler_reads_it(path, page_index)
    width, height = abs(x1 - x0), abs(y1 - y0)
    with PDFIUM_LOCK:
        doc = open_pdf(path)
        try:
            turned = doc[page_index].get_rotation() in (90, 270)
        finally:
            doc.close()
    return png, PageGeometry(*((height, width) if turned else (width, height)), viewport=viewport)


def render_one_page(html: str, geometry: PageGeometry, chromium: str) -> RenderedPage:
    """The first of SCALES at which Chromium prints `html` on one page of the source page's size; else Overflow."""
    pages = 0
    for scale in SCALES:
        pdf = print_html_to_pdf(html, geometry.width_pt, geometry.height_pt, geometry.zoom(scale), chromium)
        pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
        if pages == 1:
            return RenderedPage(pdf, scale)
    raise Overflow(f"overflows one page ({pages} pages at scale {SCALES[-1]})")


def pdf_image(pdf: bytes, longest_side: int) -> bytes:
    """A rendered one-page PDF as PNG (for the refinement request, which shows the model its own render)."""
    with tempfile.TemporaryDirectory(prefix="vlm-ocr-synth-") as tmp:
        path = Path(tmp) / "render.pdf"
        path.write_bytes(pdf)
        png, _ = render_page_png(path, 0, RenderSpec(longest_side=longest_side))
    return png
