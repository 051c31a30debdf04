"""Completion log-probabilities: left-padded groups of pages of any size, row chunks, and their gradient."""

import pytest
import torch
from PIL import Image

from vlm_ocr.data.collate import Collator
from vlm_ocr.data.processor import QwenInputs, load_processor
from vlm_ocr.model.loading import load_model
from vlm_ocr.rl.logprobs import completion_logprobs, repeat_prompts, select_rows

MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "Read this page."}, {"type": "image"}]}]


@pytest.fixture(scope="module")
def setup(tiny_vlm_dir):
    processor = load_processor(str(tiny_vlm_dir))
    model = load_model(str(tiny_vlm_dir), "float32", "auto")
    images = [Image.new("RGB", (56, 56), "white"), Image.new("RGB", (84, 140), (40, 90, 200))]  # 4 and 15 image tokens
    prompts = Collator(processor.tokenizer.pad_token_id, "left")(
        [QwenInputs(processor).prompt(MESSAGES, i) for i in images]
    )
    group = repeat_prompts(prompts, 2)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 1000, (4, 5), generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    return model, group, ids, mask


def reference_logprobs(model, row_inputs, ids, temperature):
    """The plain way: the model's full logits, temperature, log-softmax (one unpadded row)."""
    width = row_inputs["input_ids"].shape[1]
    inputs = {**row_inputs, "input_ids": torch.cat([row_inputs["input_ids"], ids], 1)}
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    inputs["mm_token_type_ids"] = torch.cat([row_inputs["mm_token_type_ids"], torch.zeros_like(ids)], 1)
    logits = model(**inputs).logits[:, width - 1 : -1] / temperature
    return torch.log_softmax(logits.float(), -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def test_padded_rows_score_as_each_row_alone_and_in_chunks(setup):
    model, group, ids, mask = setup
    assert group["attention_mask"][0].sum() < group["attention_mask"][2].sum()  # the first page's rows are padded
    with torch.no_grad():
        together = completion_logprobs(model, group, ids, mask, temperature=0.7, chunk_size=3)
        chunked = completion_logprobs(model, group, ids, mask, temperature=0.7, rows_per_forward=3)
        for row in range(4):
            alone = select_rows(group, [row])
            keep = alone["attention_mask"][0].bool()
            alone = {
                k: (v[:, keep] if k in ("input_ids", "attention_mask", "mm_token_type_ids") else v)
                for k, v in alone.items()
            }
            n = int(mask[row].sum())
            expected = reference_logprobs(model, alone, ids[row : row + 1, :n], 0.7)[0]
            torch.testing.assert_close(together[row, :n], expected, atol=2e-5, rtol=0)
    assert torch.equal(together, chunked) or torch.allclose(together, chunked, atol=1e-6)
    assert (together[mask == 0] == 0).all()


def test_gradient_is_the_plain_forwards(setup):
    model, group, ids, mask = setup
    rows = [2]  # one unpadded row: the plain forward needs no mask
    inputs = select_rows(group, rows)
    n = int(mask[2].sum())
    model.zero_grad()
    completion_logprobs(model, inputs, ids[rows, :n], torch.ones(1, n, dtype=torch.long), 0.7).sum().backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    reference_logprobs(model, inputs, ids[rows, :n], 0.7).sum().backward()
    plain = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    assert ours.keys() == plain.keys() and len(ours) > 20
    for name, grad in plain.items():  # float32 sums in another order: within 1e-4 of each gradient's scale
        assert (ours[name] - grad).abs().max() <= 1e-4 * grad.abs().max(), name


def test_nothing_to_score_gives_zeros_that_keep_the_graph(setup):
    model, group, ids, mask = setup
    logps = completion_logprobs(model, group, ids, torch.zeros_like(mask), 0.7)
    assert logps.shape == ids.shape and not logps.any() and logps.requires_grad
