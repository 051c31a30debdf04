"""PDF pages in process with pypdfium2 (pypdf reads MediaBox numbers): open with clear errors, count, render.

pdfium is not thread-safe: every helper here holds PDFIUM_LOCK while it touches pdfium, and a caller that keeps a
document from `open_pdf` holds the lock itself while it uses it (the lock is reentrant).
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pypdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

POINTS_PER_INCH = 72.0
PDFIUM_LOCK = threading.RLock()


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
    """How a page becomes an image. The defaults are the original's (olmocr `render_pdf_to_base64png`)."""

    longest_side: int = 1288
    """Target length in pixels of the rendered image's longest side."""
    page_box: Literal["media", "crop"] = "media"
    """Which page box is rendered: `media` (the original: `pdfinfo` MediaBox, `pdftoppm` without `-cropbox`)
    or `crop` (what a viewer shows; the `renderpdf` data tool's choice)."""
    min_dpi: float | None = None
    """Lower DPI bound (huge pages then exceed the target); None: none, as the original."""
    max_dpi: float | None = None
    """Upper DPI bound (tiny pages then fall short of the target); None: none, as the original."""


def open_pdf(path: str | Path) -> pdfium.PdfDocument:
    """Open a PDF, turning pdfium's errors (corrupt, encrypted, missing) into PdfError."""
    path = Path(path)
    if not path.is_file():
        raise PdfError(path, "file not found")
    try:
        with PDFIUM_LOCK:
            return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as err:
        reason = str(err)
        if "password" in reason.lower():
            reason = "encrypted (password required)"
        raise PdfError(path, f"cannot open PDF: {reason}") from None


def page_count(path: str | Path) -> int:
    """Number of pages; a PDF that cannot be opened raises PdfError."""
    with PDFIUM_LOCK:
        doc = open_pdf(path)
        try:
            return len(doc)
        finally:
            doc.close()


def render_dpi(width_pt: float, height_pt: float, spec: RenderSpec) -> float:
    """The DPI giving the target longest side, within the spec's bounds (the original has none)."""
    dpi = spec.longest_side * POINTS_PER_INCH / max(width_pt, height_pt)
    if spec.min_dpi is not None:
        dpi = max(dpi, spec.min_dpi)
    if spec.max_dpi is not None:
        dpi = min(dpi, spec.max_dpi)
    return dpi


def render_scale(width_pt: float, height_pt: float, spec: RenderSpec) -> float:
    """Pixels per point for a page of this displayed size."""
    return render_dpi(width_pt, height_pt, spec) / POINTS_PER_INCH


def render_page(path: str | Path, page_index: int = 0, spec: RenderSpec | None = None) -> Image.Image:
    """Render one page to an RGB image, upright as displayed (/Rotate honoured), of the spec's page box.

    The pixel size is the original's exactly (see `pixel_size`); pdfium draws the page into it.
    """
    spec = spec or RenderSpec()
    with PDFIUM_LOCK:
        doc = open_pdf(path)
        try:
            _check_index(path, doc, page_index)
            page = doc[page_index]
            width, height = pixel_size(path, page, page_index, spec)
            if spec.page_box == "media":
                page.set_cropbox(*page.get_mediabox())  # in memory only: pdfium draws the crop box
            bitmap = pdfium.PdfBitmap.new_native(width, height, format=pdfium_c.FPDFBitmap_BGR, rev_byteorder=True)
            bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
            pdfium_c.FPDF_RenderPageBitmap(bitmap, page, 0, 0, width, height, 0, pdfium_c.FPDF_ANNOT)
            return bitmap.to_pil().convert("RGB")
        except pdfium.PdfiumError as err:
            raise PdfError(path, f"cannot render page {page_index + 1}: {err}") from None
        finally:
            doc.close()


def pixel_size(path: str | Path, page: pdfium.PdfPage, page_index: int, spec: RenderSpec) -> tuple[int, int]:
    """(width, height) in pixels of the rendered page as displayed."""
    if spec.page_box == "media":
        x0, y0, x1, y1 = media_box_as_poppler_reads_it(path, page_index)
        if min(abs(x1 - x0), abs(y1 - y0)) <= 0 or _pdfinfo_longest_side(x0, y0, x1, y1) <= 0:
            # The original divides by zero here; everywhere else it renders, and so do we.
            raise PdfError(path, f"page {page_index + 1} has an empty media box")
        width, height = poppler_pixel_size(x0, y0, x1, y1, spec)
        return (height, width) if page.get_rotation() in (90, 270) else (width, height)
    width_pt, height_pt = page.get_size()  # the crop box as displayed
    if width_pt <= 0 or height_pt <= 0:
        raise PdfError(path, f"page {page_index + 1} has an empty crop box")
    scale = render_scale(width_pt, height_pt, spec)
    # rounded before ceil: longest_side / longest * longest is 2048.0000000000005 for some page sizes
    return max(1, math.ceil(round(width_pt * scale, 6))), max(1, math.ceil(round(height_pt * scale, 6)))


def poppler_pixel_size(x0: float, y0: float, x1: float, y1: float, spec: RenderSpec) -> tuple[int, int]:
    """The original's unrotated pixel size for a media box, bit for bit.

    olmocr takes the longest side from `pdfinfo -box` (printed with two decimals), passes
    `-r str(longest_side * 72 / that)` to `pdftoppm`, which sizes the image ceil(extent * dpi / 72)
    in doubles from the box it parsed.
    """
    longest = _pdfinfo_longest_side(x0, y0, x1, y1)
    dpi = render_dpi(longest, longest, spec)
    dpi = float(str(dpi))  # the text olmocr passes on the command line, parsed back
    width, height = abs(x1 - x0), abs(y1 - y0)
    return max(1, math.ceil(width * dpi / POINTS_PER_INCH)), max(1, math.ceil(height * dpi / POINTS_PER_INCH))


def _pdfinfo_longest_side(x0: float, y0: float, x1: float, y1: float) -> float:
    x0, y0, x1, y1 = (float(f"{v:.2f}") for v in (x0, y0, x1, y1))  # pdfinfo prints "%8.2f"
    return max(abs(x0 - x1), abs(y1 - y0))


def media_box_as_poppler_reads_it(path: str | Path, page_index: int) -> tuple[float, float, float, float]:
    """The page's MediaBox (inherited or not) with each number parsed as poppler's lexer parses it.

    pypdf reads the box (pdfium only gives it as 32-bit floats, which move the original's ceil() by a pixel).
    """
    try:
        box = pypdf.PdfReader(str(path)).pages[page_index].mediabox
        values = [float(box[i]) for i in range(4)]
    except Exception as err:  # pypdf raises many exception types for damaged files
        raise PdfError(path, f"cannot read the media box of page {page_index + 1}: {err}") from None
    return tuple(_poppler_real(v) for v in values)  # type: ignore[return-value]


def _poppler_real(value: float) -> float:
    """A PDF number as poppler's Lexer computes it: digit by digit, `x += scale * d; scale *= 0.1`."""
    text = repr(value)  # the shortest text that reads back as `value`: the file's own digits
    if "e" in text or "inf" in text or "nan" in text:
        return value
    negative, text = text.startswith("-"), text.lstrip("-")
    whole, _, fraction = text.partition(".")
    result, scale = float(int(whole or "0")), 0.1
    for digit in fraction:
        result += scale * int(digit)
        scale *= 0.1
    return -result if negative else result


def render_page_png(
    path: str | Path, page_index: int = 0, spec: RenderSpec | None = None
) -> tuple[bytes, tuple[int, int]]:
    """Render one page (as `render_page`) to PNG bytes; returns the bytes and the image's (width, height)."""
    image = render_page(path, page_index, spec)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), image.size


def _check_index(path: str | Path, doc: pdfium.PdfDocument, page_index: int) -> None:
    if not 0 <= page_index < len(doc):
        raise PdfError(path, f"page {page_index + 1} out of range (the PDF has {len(doc)} pages)")
