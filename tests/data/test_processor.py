import pytest
import torch
from PIL import Image

from vlm_ocr.data.processor import IGNORE_INDEX, QwenInputs
from vlm_ocr.data.sample import DropSample
from vlm_ocr.data.transforms import BuildMessages, FormatTarget
from vlm_ocr.pages.front_matter import PageResponse
from vlm_ocr.pages.prompts import build_no_anchoring_v4_yaml_prompt

PROMPT = build_no_anchoring_v4_yaml_prompt()


def messages(prompt_first=True):
    return BuildMessages(prompt_first=prompt_first)({})["messages"]


def test_chat_rendering_equals_the_spec(processor):
    rendered = processor.apply_chat_template(messages(), tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        f"{PROMPT}<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n"
    )
    image_first = processor.apply_chat_template(messages(False), tokenize=False, add_generation_prompt=True)
    assert f"user\n<|vision_start|><|image_pad|><|vision_end|>{PROMPT}<|im_end|>" in image_first


def test_letter_page_image_tokens_match_the_spec(processor):
    inputs = QwenInputs(processor)
    prompt = inputs.prompt(messages(), Image.new("RGB", (995, 1288), "white"))
    assert prompt["image_grid_thw"].tolist() == [[1, 92, 72]]
    assert prompt["pixel_values"].shape == (6624, 1176)
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((prompt["input_ids"] == image_pad).sum()) == 1656 == 92 * 72 // 4


def test_labels_cover_only_the_answer_and_im_end(processor):
    target = FormatTarget()({"page_data": PageResponse(None, True, 0, False, False, "Hello")})["target"]
    assert target == (
        "---\nprimary_language: None\nis_rotation_valid: True\nrotation_correction: 0\n"
        "is_table: False\nis_diagram: False\n---\nHello"
    )
    sample = QwenInputs(processor)({"messages": messages(), "image": Image.new("RGB", (280, 364)), "target": target})
    ids, labels = sample["input_ids"], sample["labels"]
    answer = labels != IGNORE_INDEX
    start = int(answer.nonzero()[0])
    assert answer[start:].all() and not answer[:start].any()
    tokenizer = processor.tokenizer
    assert tokenizer.decode(ids[:start]).endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(labels[answer]) == target + "<|im_end|>"
    assert int(labels[-1]) == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert torch.equal(ids[answer], labels[answer]) and sample["attention_mask"].all()


@pytest.mark.parametrize("policy", ["drop", "truncate"])
def test_overlong_policy(processor, policy):
    inputs = QwenInputs(processor, max_length=200, overlong=policy)
    sample = {"messages": messages(), "image": Image.new("RGB", (56, 56)), "target": "word " * 200}
    if policy == "drop":
        with pytest.raises(DropSample, match="too long"):
            inputs(sample)
    else:
        out = inputs(sample)
        assert len(out["input_ids"]) == 200 and out["truncated"]
        assert int(out["labels"][-1]) != processor.tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_prompt_longer_than_max_length_is_always_dropped(processor):
    inputs = QwenInputs(processor, max_length=50, overlong="truncate")
    with pytest.raises(DropSample, match="prompt"):
        inputs({"messages": messages(), "image": Image.new("RGB", (56, 56)), "target": "x"})
