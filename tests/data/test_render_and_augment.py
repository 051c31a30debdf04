import io
import re
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from lightning.fabric.utilities.data import _set_sampler_epoch
from PIL import Image

from vlm_ocr.data.augment import RotationAugmentation
from vlm_ocr.experiment_cli import build_cli
from vlm_ocr.pages.front_matter import PageResponse, parse_page_markdown
from vlm_ocr.pages.pdf import PdfError, RenderSpec, render_page
from vlm_ocr.pages.rotation import turn_counter_clockwise


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


# olmOCR's own rule, written out from its code (not vlm_ocr's): its pipeline fixes a page by applying
# Image.Transpose.ROTATE_<rotation_correction>, and its augmentation turned pages with ROTATE_<angle>.
OLMOCR_TRANSPOSE = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def marked_page():
    """A page whose orientation shows: a filled top-left corner and a bar along the top edge."""
    image = Image.new("RGB", (60, 40), "white")
    image.paste((0, 0, 0), (0, 0, 12, 12))
    image.paste((255, 0, 0), (0, 0, 60, 3))
    return image


def test_augmentation_labels_mean_what_olmocr_means():
    aug = RotationAugmentation(probability=1.0)
    seen = set()
    for i in range(24):
        original = {**sample(i), "image": marked_page()}
        out = aug(original)
        label = out["page_data"].rotation_correction
        seen.add(label)
        assert out["page_data"].is_rotation_valid is False
        # the same image as olmOCR's augmentation gives for the angle that this label answers ...
        olmocr_turned = original["image"].transpose(OLMOCR_TRANSPOSE[360 - label])
        assert np.array_equal(np.asarray(out["image"]), np.asarray(olmocr_turned))
        # ... and olmOCR's correction rule applied to the label gives the upright page back, pixel for pixel
        restored = out["image"].transpose(OLMOCR_TRANSPOSE[label])
        assert np.array_equal(np.asarray(restored), np.asarray(original["image"]))
    assert seen == {90, 180, 270}


def test_turn_counter_clockwise_is_olmocrs_transpose():
    page = marked_page()
    for degrees, transpose in OLMOCR_TRANSPOSE.items():
        turned = np.asarray(turn_counter_clockwise(page, degrees))
        assert np.array_equal(turned, np.asarray(page.transpose(transpose)))
    left_side = np.asarray(turn_counter_clockwise(page, 90))[:, 0]  # the top edge's bar is on the left side now
    assert (left_side == (255, 0, 0)).all(axis=1).all()
    assert turn_counter_clockwise(page, 0) is page and turn_counter_clockwise(page, 360) is page
    with pytest.raises(ValueError, match="0, 90, 180 or 270"):
        turn_counter_clockwise(page, 45)


def test_a_real_page_rotated_by_90_is_fixed_by_olmocrs_label_90(shared_fixtures):
    """edgar-rotated90.pdf shows edgar.pdf turned a quarter clockwise (/Rotate 90): olmOCR's label for it is 90."""
    upright = np.asarray(render_page(shared_fixtures / "pdfs" / "edgar.pdf", 0, RenderSpec(644)).convert("L"), float)
    rotated = render_page(shared_fixtures / "pdfs" / "edgar-rotated90.pdf", 0, RenderSpec(644))
    differences = {
        label: np.abs(np.asarray(turn_counter_clockwise(rotated, label).convert("L"), float) - upright).mean()
        for label in (90, 270)
    }
    assert differences[90] < 10 < differences[270]


def ink_rows(image):
    """First and last rows with ink, as shares of the height."""
    rows = np.flatnonzero((np.asarray(image.convert("L")) < 128).any(axis=1))
    return rows[0] / image.height, rows[-1] / image.height


def test_sample_datas_rotated_page_is_labelled_in_olmocrs_convention(sample_data_dir):
    page = parse_page_markdown((sample_data_dir / "train" / "rotated" / "rotated_000.md").read_text())
    assert page.is_rotation_valid is False
    image = render_page(sample_data_dir / "train" / "rotated" / "rotated_000.pdf", 0, RenderSpec(640))
    top, bottom = ink_rows(image.transpose(OLMOCR_TRANSPOSE[page.rotation_correction]))
    assert image.height > image.width and top < 0.2 and bottom < 0.6  # fixed: lines across, text from the top
    assert ink_rows(image.transpose(OLMOCR_TRANSPOSE[360 - page.rotation_correction]))[0] > 0.4  # the reverse: not


EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
TURNED_EVAL = "[{class_path: vlm_ocr.data.RotationAugmentation, init_args: {probability: 0.5}}]"


def eval_pages(cli_env, *overrides):
    """(markdown path, image grid, rotation label) of each eval page, read at two validations in different epochs."""
    args = ["--config", str(EXPERIMENTS / "tiny.yaml"), *cli_env, "--trainer.accelerator", "cpu", *overrides]
    args += ["--data.eval_roots", "{sample_eval: eval}", "--data.batch_size", "1"]  # its eval pages, one per batch
    data = build_cli([*args, "--data.num_workers", "0"], run=False).datamodule
    data.setup("validate")
    (loader,) = data.val_dataloader()
    tokenizer = data.processor.tokenizer
    validations = []
    for epoch in (0, 3):
        _set_sampler_epoch(loader, epoch)  # what Lightning's evaluation loop does before each validation
        pages = []
        for batch in loader:
            if not batch["num_pages"]:  # the sample data's rotated eval page, dropped by FilterRotated
                continue
            target = tokenizer.decode(batch["labels"][0][batch["labels"][0] != -100])
            label = int(re.search(r"rotation_correction: (\d+)", target).group(1))
            pages.append((batch["markdown_paths"][0], batch["image_grid_thw"][0].tolist(), label))
        validations.append(pages)
    return validations


def test_eval_rotation_is_an_option_drawn_the_same_at_every_validation(cli_env):
    recipe = build_cli(
        ["--config", str(EXPERIMENTS / "mix_1025.yaml"), *cli_env, "--trainer.accelerator", "cpu"], run=False
    )
    steps = [type(step).__name__ for step in recipe.datamodule.pipeline.eval_steps()]
    assert steps[-3:] == ["RotationAugmentation", "FormatTarget", "BuildMessages"]
    assert recipe.datamodule.pipeline.eval_augmentations[0].probability == 0.02

    plain_first, plain_again = eval_pages(cli_env, "--data.eval_augmentations", "[]")
    turned_first, turned_again = eval_pages(cli_env, "--data.eval_augmentations", TURNED_EVAL)
    assert turned_first == turned_again and plain_first == plain_again  # the same pages at every validation
    assert {label for *_, label in plain_first} == {0}
    assert 0 < sum(label != 0 for *_, label in turned_first) < len(turned_first)
    for (path, grid, label), (plain_path, plain_grid, _) in zip(turned_first, plain_first, strict=True):
        assert path == plain_path
        assert grid[1:] == (plain_grid[1:][::-1] if label in (90, 270) else plain_grid[1:])
