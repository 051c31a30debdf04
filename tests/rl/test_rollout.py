"""Rollouts: G completions of every page in one batched, seeded generate call, with masks and truncation flags."""

import pytest
import torch
from PIL import Image

from vlm_ocr.data.processor import QwenInputs, load_processor
from vlm_ocr.data.transforms import BuildMessages
from vlm_ocr.model.generate import end_token_ids
from vlm_ocr.model.loading import load_model
from vlm_ocr.rl.rollout import HFRollout, RolloutPrompt, RolloutSpec, completion_mask


def test_the_mask_covers_each_completion_up_to_its_end_token():
    end = [7, 9]
    tokens = torch.tensor([[1, 2, 7, 9, 9], [3, 4, 5, 6, 8], [9, 9, 9, 9, 9], [1, 7, 2, 2, 2]])
    mask, truncated = completion_mask(tokens, end)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0]]
    assert truncated.tolist() == [False, True, False, False]


@pytest.fixture(scope="module")
def rollout(tiny_vlm_dir):
    processor = load_processor(str(tiny_vlm_dir))
    model = load_model(str(tiny_vlm_dir), "float32", "auto")
    images = [Image.new("RGB", (56, 56), "white"), Image.new("RGB", (84, 112), (30, 30, 30))]
    prompts = [RolloutPrompt.from_page(image, QwenInputs(processor), BuildMessages()) for image in images]
    return model, processor, prompts


def test_g_completions_per_page_in_one_generate_call(rollout, monkeypatch):
    model, processor, prompts = rollout
    calls = []
    generate = model.generate
    monkeypatch.setattr(model, "generate", lambda **kw: calls.append(kw) or generate(**kw))
    model.train()
    engine = HFRollout(model, processor.tokenizer, RolloutSpec(num_generations=3, max_new_tokens=4))
    out = engine.sample(prompts, seed=5)
    assert len(calls) == 1 and calls[0]["num_return_sequences"] == 3 and calls[0].get("use_cache", True)
    assert calls[0]["top_k"] == 0 and calls[0]["repetition_penalty"] == 1.0 and calls[0]["temperature"] == 0.7
    assert model.training  # sampled in eval mode, then back to training
    assert out.completion_ids.shape == (6, 4) and out.group_size == 3 and len(out.texts) == 6
    assert out.prompts["input_ids"].shape[0] == 2  # one prompt row per page
    assert out.truncated.all() and out.completion_mask.all() and out.tokens == 24  # random weights never stop
    assert [c.last_token_id for c in out.completions()] == out.completion_ids[:, -1].tolist()
    assert out.texts[0] == processor.tokenizer.decode(out.completion_ids[0], skip_special_tokens=True)
    again = engine.sample(prompts, seed=5)
    other = engine.sample(prompts, seed=6)
    assert torch.equal(again.completion_ids, out.completion_ids)  # the seed decides the samples
    assert not torch.equal(other.completion_ids, out.completion_ids)
    assert not torch.equal(out.completion_ids[0], out.completion_ids[1])  # a group's completions differ


def test_an_ended_completion_is_masked_after_its_end(rollout, monkeypatch):
    """What the model samples after its end token is padding, out of the mask, out of the text."""
    model, processor, prompts = rollout
    end = end_token_ids(model, processor.tokenizer)[-1]
    pad = processor.tokenizer.pad_token_id
    fixed = torch.tensor([[11, 12, end, pad], [13, 14, 15, 16]])
    monkeypatch.setattr(model, "generate", lambda **kw: torch.cat([kw["input_ids"].repeat(2, 1), fixed], 1))
    out = HFRollout(model, processor.tokenizer, RolloutSpec(num_generations=2, max_new_tokens=4)).sample(prompts[:1], 0)
    assert out.completion_mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]] and out.truncated.tolist() == [False, True]
    assert out.texts[0] == processor.tokenizer.decode([11, 12])
    assert [c.last_token_id for c in out.completions()] == [end, 16]
