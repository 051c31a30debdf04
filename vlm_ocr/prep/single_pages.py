"""Page-level PDF building for the data tools: one page out of a PDF, an image as a one-page PDF.

pdfium is not thread-safe, so every pdfium call here goes through `vlm_ocr.pages.pdf.PDFIUM_LOCK`.
"""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from vlm_ocr.pages.pdf import PDFIUM_LOCK, POINTS_PER_INCH, PdfError, open_pdf

DEFAULT_IMAGE_DPI = 150.0
JPEG_TARGET_BYTES = int(1.5 * 1024 * 1024)


def extract_page(path: str | Path, page_index: int) -> bytes:
    """A new PDF holding only page `page_index` (0-based) of `path`, its /Rotate and boxes kept."""
    with PDFIUM_LOCK:
        source = open_pdf(path)
        try:
            if not 0 <= page_index < len(source):
                raise PdfError(path, f"page {page_index + 1} out of range (the PDF has {len(source)} pages)")
            single = pdfium.PdfDocument.new()
            single.import_pages(source, [page_index])
            buffer = io.BytesIO()
            single.save(buffer)
            single.close()
            return buffer.getvalue()
        finally:
            source.close()


def image_to_pdf(data: bytes, *, max_jpeg_bytes: int = JPEG_TARGET_BYTES) -> bytes:
    """A one-page PDF showing the image, page size from its DPI (150 when unknown).

    JPEG bytes are embedded as they are (lossless); other formats (PNG, TIFF, JP2) are converted to
    RGB JPEG, lowering the quality from 98 in steps of 5 until the file fits `max_jpeg_bytes`.
    Multi-frame images are refused: their transcription covers frames a single page would not show.
    """
    with Image.open(io.BytesIO(data)) as image:
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            raise ValueError(f"multi-frame image ({frames} frames)")
        dpi = image.info.get("dpi", (DEFAULT_IMAGE_DPI, DEFAULT_IMAGE_DPI))
        dpi_x, dpi_y = (float(d) if d and float(d) > 1 else DEFAULT_IMAGE_DPI for d in dpi[:2])
        width, height = image.size
        if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
            jpeg = data
        else:
            jpeg = _to_jpeg(image, max_jpeg_bytes)
    return _jpeg_page(jpeg, width * POINTS_PER_INCH / dpi_x, height * POINTS_PER_INCH / dpi_y)


def _to_jpeg(image: Image.Image, max_bytes: int) -> bytes:
    rgb = image.convert("RGB")
    quality = 98
    while True:
        buffer = io.BytesIO()
        rgb.save(buffer, format="JPEG", quality=quality)
        if buffer.tell() <= max_bytes or quality <= 48:
            return buffer.getvalue()
        quality -= 5


def _jpeg_page(jpeg: bytes, width_pt: float, height_pt: float) -> bytes:
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument.new()
        try:
            image = pdfium.PdfImage.new(pdf)
            image.load_jpeg(io.BytesIO(jpeg), inline=False)
            image.set_matrix(pdfium.PdfMatrix().scale(width_pt, height_pt))
            page = pdf.new_page(width_pt, height_pt)
            page.insert_obj(image)
            page.gen_content()
            buffer = io.BytesIO()
            pdf.save(buffer)
            return buffer.getvalue()
        finally:
            pdf.close()
