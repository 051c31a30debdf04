import io

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from vlm_ocr.data.augment import CORRECTION, RotationAugmentation, rotate_clockwise
from vlm_ocr.data.front_matter import PageResponse
from vlm_ocr.prep.pdf import PdfError, RenderSpec, render_page


def test_render_honours_rotation(shared_fixtures):
    upright = render_page(shared_fixtures / "pdfs" / "edgar.pdf", 0, RenderSpec(1288))
    rotated = render_page(shared_fixtures / "pdfs" / "edgar-rotated90.pdf", 0, RenderSpec(1288))
    assert max(upright.size) == 1288 and upright.width < upright.height
    assert max(rotated.size) == 1288 and rotated.width > rotated.height


def _pdf(width, height, crop=None) -> bytes:
    doc = pdfium.PdfDocument.new()
    page = doc.new_page(width, height)
    if crop:
        page.set_cropbox(*crop)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def test_render_crop_box_and_dpi_bounds(tmp_path):
    (tmp_path / "crop.pdf").write_bytes(_pdf(600, 800, crop=(0, 0, 300, 400)))
    (tmp_path / "tiny.pdf").write_bytes(_pdf(20, 10))
    (tmp_path / "huge.pdf").write_bytes(_pdf(14400, 7200))
    assert render_page(tmp_path / "crop.pdf", 0, RenderSpec(800)).size == (600, 800)
    assert render_page(tmp_path / "tiny.pdf", 0, RenderSpec(1288, max_dpi=144)).size == (40, 20)
    assert render_page(tmp_path / "huge.pdf", 0, RenderSpec(100, min_dpi=36)).size == (7200, 3600)


def test_render_errors_name_the_file(tmp_path):
    (tmp_path / "bad.pdf").write_bytes(b"nope")
    with pytest.raises(PdfError, match=r"bad\.pdf: cannot open PDF"):
        render_page(tmp_path / "bad.pdf")
    (tmp_path / "one.pdf").write_bytes(_pdf(100, 100))
    with pytest.raises(PdfError, match="page 3 out of range"):
        render_page(tmp_path / "one.pdf", 2)


def sample(index, epoch=0, seed=301):
    image = Image.new("RGB", (40, 20), "white")
    image.putpixel((0, 0), (255, 0, 0))
    return {
        "seed": seed,
        "epoch": epoch,
        "index": index,
        "image": image,
        "page_data": PageResponse("en", True, 0, False, False, "t"),
    }


def test_rotation_augmentation_is_a_function_of_seed_epoch_index():
    aug = RotationAugmentation(probability=0.5)
    runs = [[aug(sample(i, epoch))["page_data"].rotation_correction for i in range(64)] for epoch in (0, 0, 1)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert 10 < sum(r != 0 for r in runs[0]) < 54


def test_rotation_augmentation_records_the_inverse_turn():
    aug = RotationAugmentation(probability=1.0)
    for i in range(12):
        original = sample(i)
        out = aug(original)
        page = out["page_data"]
        assert page.is_rotation_valid is False and page.rotation_correction in (90, 180, 270)
        restored = rotate_clockwise(out["image"], page.rotation_correction)
        assert np.array_equal(np.asarray(restored), np.asarray(original["image"]))
    assert CORRECTION == {90: 270, 180: 180, 270: 90}
