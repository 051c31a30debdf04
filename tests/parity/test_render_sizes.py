"""RenderPage's image size equals olmocr's (pdfinfo + pdftoppm) for random page boxes, origins and rotations."""

from __future__ import annotations

import base64
import io
import random
import shutil

import pypdfium2 as pdfium
import pytest
from PIL import Image

from vlm_ocr.data.transforms import RenderPage

needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("pdfinfo")), reason="needs poppler-utils (the original's renderer)"
)


def random_pdf(path, rng: random.Random) -> None:
    width, height = (round(rng.uniform(3, 5000), rng.choice([0, 1, 2, 3, 4])) for _ in range(2))
    x0, y0 = rng.choice([(0, 0), (0, 0), (10.5, -20.25), (100.33, 7)])
    doc = pdfium.PdfDocument.new()
    page = doc.new_page(width, height)
    page.set_mediabox(x0, y0, x0 + width, y0 + height)
    if rng.random() < 0.3:  # a CropBox inside: the original still renders the MediaBox
        page.set_cropbox(x0 + width * 0.1, y0 + height * 0.2, x0 + width * 0.7, y0 + height * 0.9)
    page.set_rotation(rng.choice([0, 90, 180, 270]))
    doc.save(path)


@needs_poppler
@pytest.mark.parametrize("longest_side", [1288, 1024])
def test_sizes_equal_the_originals(tmp_path, longest_side):
    renderpdf = pytest.importorskip("olmocr.data.renderpdf")
    step, rng, differ = RenderPage(longest_side=longest_side), random.Random(longest_side), []
    for n in range(40):
        path = tmp_path / f"{n}.pdf"
        random_pdf(path, rng)
        theirs = Image.open(io.BytesIO(base64.b64decode(renderpdf.render_pdf_to_base64png(str(path), 1, longest_side))))
        ours = step.render(str(path))
        if ours.size != theirs.size:
            differ.append(f"{pdfium.PdfDocument(path)[0].get_mediabox()}: ours {ours.size}, original {theirs.size}")
    assert not differ, "\n".join(differ)


def test_crop_box_is_a_named_option(tmp_path):
    doc = pdfium.PdfDocument.new()
    doc.new_page(612, 792).set_cropbox(36, 36, 576, 720)
    doc.save(tmp_path / "crop.pdf")
    # 612 x 792 pt: the MediaBox, as the original; 540 x 684 pt: the CropBox
    assert RenderPage().render(str(tmp_path / "crop.pdf")).size == (996, 1288)
    assert RenderPage(page_box="crop").render(str(tmp_path / "crop.pdf")).size == (1017, 1288)
