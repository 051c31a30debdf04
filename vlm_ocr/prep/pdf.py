"""PDF pages in process with pypdfium2: open with clear errors, count pages, size and render them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

POINTS_PER_INCH = 72.0


class PdfError(ValueError):
    """A PDF that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable across process pools
        return type(self), (self.path, self.reason)


@dataclass(frozen=True)
class RenderSpec:
    """How a page becomes an image."""

    longest_side: int = 1288
    """Target length in pixels of the rendered image's longest side."""
    min_dpi: float = 36.0
    """Lower DPI bound: huge pages are rendered at least this sharp (the image then exceeds the target)."""
    max_dpi: float = 600.0
    """Upper DPI bound: tiny pages are not blown up past this (the image then falls short of the target)."""


def open_pdf(path: str | Path) -> pdfium.PdfDocument:
    """Open a PDF, turning pdfium's errors (corrupt, encrypted, missing) into PdfError."""
    path = Path(path)
    if not path.is_file():
        raise PdfError(path, "file not found")
    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as err:
        reason = str(err)
        if "password" in reason.lower():
            reason = "encrypted (password required)"
        raise PdfError(path, f"cannot open PDF: {reason}") from None


def page_count(path: str | Path) -> int:
    doc = open_pdf(path)
    try:
        return len(doc)
    finally:
        doc.close()


def page_size(path: str | Path, page_index: int = 0) -> tuple[float, float]:
    """Displayed (width, height) in points: the crop box, with the page's /Rotate applied."""
    doc = open_pdf(path)
    try:
        _check_index(path, doc, page_index)
        return tuple(doc[page_index].get_size())  # type: ignore[return-value]
    finally:
        doc.close()


def render_scale(width_pt: float, height_pt: float, spec: RenderSpec) -> float:
    """pdfium scale (pixels per point) giving the target longest side within the DPI bounds."""
    dpi = spec.longest_side * POINTS_PER_INCH / max(width_pt, height_pt)
    dpi = min(max(dpi, spec.min_dpi), spec.max_dpi)
    return dpi / POINTS_PER_INCH


def render_page(path: str | Path, page_index: int = 0, spec: RenderSpec | None = None) -> Image.Image:
    """Render one page to an RGB image, upright as displayed (rotation and crop box honoured)."""
    spec = spec or RenderSpec()
    doc = open_pdf(path)
    try:
        _check_index(path, doc, page_index)
        page = doc[page_index]
        width, height = page.get_size()
        if width <= 0 or height <= 0:
            raise PdfError(path, f"page {page_index + 1} has an empty crop box")
        bitmap = page.render(scale=render_scale(width, height, spec), draw_annots=True)
        return bitmap.to_pil().convert("RGB")
    except pdfium.PdfiumError as err:
        raise PdfError(path, f"cannot render page {page_index + 1}: {err}") from None
    finally:
        doc.close()


def render_page_png(path: str | Path, page_index: int = 0, spec: RenderSpec | None = None) -> bytes:
    buffer = io.BytesIO()
    render_page(path, page_index, spec).save(buffer, format="PNG")
    return buffer.getvalue()


def _check_index(path: str | Path, doc: pdfium.PdfDocument, page_index: int) -> None:
    if not 0 <= page_index < len(doc):
        raise PdfError(path, f"page {page_index + 1} out of range (the PDF has {len(doc)} pages)")
