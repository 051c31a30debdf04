from types import SimpleNamespace

import torch

from vlm_ocr.data import BuildMessages, PageDataModule, RenderPage
from vlm_ocr.model.generate import GenerationSpec
from vlm_ocr.model.predict import predict_rows, rotation_to_fix
from vlm_ocr.pages.front_matter import PageResponse, format_page_markdown


class ScriptedGenerator:
    """Stands in for model.generate: answers each call with the next scripted text, records the image grids."""

    config = SimpleNamespace(model_type="qwen2_5_vl")  # the tiny model's family: its end tokens stop the answers

    def __init__(self, tokenizer, answers):
        self.tokenizer = tokenizer
        self.answers = list(answers)
        self.grids = []
        self.pixels = []

    def generate(self, input_ids, attention_mask, pixel_values, image_grid_thw, **options):
        self.grids.append(image_grid_thw.tolist())
        self.pixels.append(pixel_values)
        text = self.answers.pop(0)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [
            self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        ]
        new = torch.tensor([ids] * len(input_ids))
        return torch.cat([input_ids, new], dim=1)


def rotated_answer(degrees):
    return format_page_markdown(PageResponse("en", False, degrees, False, False, "sideways"))


def test_rotation_to_fix():
    assert rotation_to_fix(rotated_answer(90)) == 90
    assert rotation_to_fix(format_page_markdown(PageResponse("en", True, 0, False, False, "ok"))) == 0
    assert rotation_to_fix("not markdown with front matter") == 0


def first_batch(tiny_vlm_dir, pdf):
    data = PageDataModule(str(tiny_vlm_dir), predict_paths=[str(pdf)], render=RenderPage(224), messages=BuildMessages())
    data.setup("predict")
    return data, next(iter(data.predict_dataloader()))


def test_rotated_page_is_turned_by_olmocrs_rule_and_predicted_again(tiny_vlm_dir, shared_fixtures):
    """edgar-rotated90.pdf is edgar.pdf turned a quarter clockwise; olmOCR labels it 90 and its pipeline fixes it with
    ROTATE_90 (counter-clockwise). The retry must show the model the upright page."""
    data, batch = first_batch(tiny_vlm_dir, shared_fixtures / "pdfs" / "edgar-rotated90.pdf")
    upright = format_page_markdown(PageResponse("en", True, 0, False, False, "EDGAR"))
    model = ScriptedGenerator(data.processor.tokenizer, [rotated_answer(90), upright])
    rows = predict_rows(model, data.processor.tokenizer, batch, GenerationSpec(max_new_tokens=64), data.rotated_prompt)
    assert len(rows) == 1 and rows[0]["text"] == upright and rows[0]["finish_reason"] == "stop"
    assert rows[0]["rotation_retry"]["degrees"] == 90
    assert rows[0]["rotation_retry"]["first"]["text"] == rotated_answer(90)
    (first,), (second,) = model.grids
    assert first[1:] == second[1:][::-1]  # the retry saw the page turned by a quarter: grid h and w swap

    _, upright_batch = first_batch(tiny_vlm_dir, shared_fixtures / "pdfs" / "edgar.pdf")
    reverse = data.rotated_prompt(str(shared_fixtures / "pdfs" / "edgar-rotated90.pdf"), 1, 270)["pixel_values"]
    assert upright_batch["image_grid_thw"].tolist() == [second]
    retried_off = (model.pixels[1] - upright_batch["pixel_values"]).abs().mean()
    reverse_off = (reverse - upright_batch["pixel_values"]).abs().mean()
    assert retried_off < reverse_off / 3  # the retry's page is the upright one, not the upside-down one
