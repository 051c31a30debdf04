import warnings

import pytest
import torch
from tiny_setup import datamodule, module

from vlm_ocr.data.packing import PackCollator, PackingBatchSampler, image_tokens
from vlm_ocr.data.sampler import EpochSampler
from vlm_ocr.model.generate import model_inputs
from vlm_ocr.model.packing import packed_position_ids, page_position_ids
from vlm_ocr.pages.pdf import RenderSpec

ATTENTION = pytest.mark.parametrize("attn", ["sdpa_varlen", "sdpa"])  # page by page / dense block-causal mask
EVERY_BACKEND = pytest.mark.parametrize(
    "attn", ["sdpa_varlen", "sdpa", "eager"]
)  # flash-attention 2: tests/test_gpu.py


def samples_and_system(tiny_vlm_dir, sample_data_dir, count=3, attn="auto"):
    data = datamodule(tiny_vlm_dir, sample_data_dir, train="train")
    data.setup("fit")
    items = [data.train_set[(0, i)] for i in range(len(data.train_set))]
    samples = [s for s in items if "dropped" not in s and s["labels"].ne(-100).sum() > 20][:count]
    system = module(tiny_vlm_dir, attn_implementation=attn)
    system.configure_model()
    return data, samples, system


@EVERY_BACKEND
@pytest.mark.parametrize("model_type", ["qwen2_5_vl", "qwen3_vl"])
def test_packed_and_unpacked_give_the_same_loss_and_gradients(family_model_dir, sample_data_dir, model_type, attn):
    """Three pages in one row, their images in one vision batch (each image attends to itself alone, Qwen3-VL's
    position embeddings resample per image) train on exactly the loss and gradients of the three pages alone."""
    data, samples, system = samples_and_system(family_model_dir(model_type), sample_data_dir, attn=attn)
    collate = data.train_dataloader().collate_fn
    losses = []
    for sample in samples:
        loss = system.compute_loss(collate([sample])).loss
        losses.append(loss)
    reference = torch.stack(losses).mean()
    reference.backward()
    ref_grads = {n: p.grad.clone() for n, p in system.model.named_parameters() if p.grad is not None}
    system.model.zero_grad()
    packed_batch = PackCollator(data.inputs.pad_id, 8192)(samples)
    assert packed_batch["input_ids"].shape[0] == 1 and len(packed_batch["page_lengths"][0]) == 3
    packed = system.compute_loss(packed_batch).loss
    packed.backward()
    torch.testing.assert_close(packed, reference, rtol=1e-5, atol=1e-5)
    for name, grad in ref_grads.items():
        torch.testing.assert_close(dict(system.model.named_parameters())[name].grad, grad, rtol=1e-4, atol=1e-6)


def test_positions_restart_per_page_and_match_the_page_alone(tiny_vlm_dir, sample_data_dir):
    data, samples, system = samples_and_system(tiny_vlm_dir, sample_data_dir)
    batch = PackCollator(data.inputs.pad_id, 8192)(samples)
    positions = packed_position_ids(system.model.model, batch)
    start = 0
    for sample, length in zip(samples, batch["page_lengths"][0], strict=True):
        alone = data.train_dataloader().collate_fn([sample])
        rope, _ = system.model.model.get_rope_index(
            alone["input_ids"], mm_token_type_ids=alone["mm_token_type_ids"], image_grid_thw=alone["image_grid_thw"]
        )
        assert torch.equal(positions[0, 0, start : start + length], torch.arange(length))
        assert torch.equal(positions[1:, 0, start : start + length], rope[:, 0])
        start += length


@ATTENTION
def test_no_attention_across_pages(tiny_vlm_dir, sample_data_dir, attn):
    data, samples, system = samples_and_system(tiny_vlm_dir, sample_data_dir, count=3, attn=attn)
    collate = PackCollator(data.inputs.pad_id, 8192)

    def hidden(pages):
        batch = collate(pages)
        inputs = {
            **model_inputs(batch),
            "position_ids": packed_position_ids(system.model.model, batch),
            "use_cache": False,
        }
        with torch.no_grad():
            return system.model.model(**inputs).last_hidden_state[0]

    first = len(samples[0]["input_ids"])
    a = hidden([samples[0], samples[1]])
    b = hidden([samples[0], samples[2]])
    torch.testing.assert_close(a[:first], b[:first])  # page 1 does not see what follows it
    c = hidden([samples[1], samples[0]])
    torch.testing.assert_close(c[-first:], a[:first], rtol=1e-5, atol=1e-5)  # nor page 2 what precedes it


def recording_attention(calls: list) -> str:
    """Register an attention implementation that notes, for every decoder attention call, the batch size and the
    page boundaries (cu_seqlens) flash-attention 2 gets from transformers for these inputs (None: plain causal
    attention over each whole row), then computes with sdpa_varlen."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    from transformers.modeling_flash_attention_utils import _is_packed_sequence, prepare_fa_kwargs_from_position_ids

    from vlm_ocr.model.attention import sdpa_varlen_attention

    def attention(module, query, key, value, attention_mask, position_ids=None, **kwargs):
        if module.is_causal:  # decoder layers; the vision tower's blocks are not causal
            rows = query.shape[0]
            varlen = _is_packed_sequence(position_ids, rows)
            calls.append((rows, prepare_fa_kwargs_from_position_ids(position_ids)[0][0].tolist() if varlen else None))
        return sdpa_varlen_attention(module, query, key, value, attention_mask, position_ids=position_ids, **kwargs)

    AttentionInterface.register("recording_sdpa_varlen", attention)
    AttentionMaskInterface.register("recording_sdpa_varlen", sdpa_mask)
    return "recording_sdpa_varlen"


def test_a_pack_over_its_budget_stays_one_row_and_the_kernel_gets_every_page_boundary(
    tmp_path, tiny_vlm_dir, sample_data_dir
):
    """The plan fell short (e.g. rotation augmentation changed an image size): no page is cut, no second row is
    opened, and in a real fit the attention kernel is handed the pages' boundaries (with two rows, flash-attention 2
    would get none and let the pages of a row see each other)."""
    from tiny_setup import trainer
    from torch.utils.data import DataLoader

    calls = []
    data, samples, _ = samples_and_system(tiny_vlm_dir, sample_data_dir)
    lengths = [len(s["input_ids"]) for s in samples]
    collate = PackCollator(data.inputs.pad_id, lengths[0] + lengths[1])  # the third page does not fit the plan
    system = module(tiny_vlm_dir, attn_implementation=recording_attention(calls))
    loader = DataLoader(samples, batch_size=len(samples), collate_fn=collate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer(tmp_path, max_steps=1).fit(system, train_dataloaders=loader)
    layers = system.model.config.text_config.num_hidden_layers
    boundaries = [0, lengths[0], lengths[0] + lengths[1], sum(lengths)]
    assert calls == [(1, boundaries)] * layers
    assert any(f"a pack of 3 pages has {sum(lengths)} tokens, over the planned" in str(w.message) for w in caught)
    batch = collate(samples)
    assert batch["page_lengths"] == [lengths] and batch["input_ids"].shape == (1, sum(lengths))
    assert batch["page_index"].tolist() == [[i for i, n in enumerate(lengths) for _ in range(n)]]


def test_batch_sampler_packs_by_planned_length():
    batches = list(PackingBatchSampler(EpochSampler(6, shuffle=False), [300, 300, 500, 900, 100, 100], 1000))
    assert [[i for _, i in b] for b in batches] == [[0, 1], [2], [3, 4], [5]]


def test_planned_image_tokens_match_the_processor(processor):
    from PIL import Image

    from vlm_ocr.pages.pdf import render_scale

    for width_pt, height_pt, side in [(612, 792, 1288), (792, 612, 448), (180, 300, 1288), (612, 396, 700)]:
        spec = RenderSpec(side)
        scale = render_scale(width_pt, height_pt, spec)
        image = Image.new("RGB", (round(width_pt * scale), round(height_pt * scale)))
        grid = processor.image_processor(images=[image], return_tensors="pt")["image_grid_thw"][0]
        assert image_tokens(width_pt, height_pt, spec, processor.image_processor) == int(grid.prod()) // 4
    assert image_tokens(612, 792, RenderSpec(1288), processor.image_processor) == 1656  # the spec's US-letter page


def test_training_with_packing_runs(tmp_path, tiny_vlm_dir, sample_data_dir):
    from tiny_setup import trainer

    system = module(tiny_vlm_dir)
    data = datamodule(tiny_vlm_dir, sample_data_dir, train="train", pack_max_tokens=1500)
    fit = trainer(tmp_path, max_steps=3)
    fit.fit(system, data)
    assert fit.global_step == 3 and system.samples_seen > 3  # several pages per step


def test_per_dataset_loss_of_a_mixed_pack(tiny_vlm_dir, sample_data_dir):
    from vlm_ocr.model.page_losses import dataset_losses

    data, samples, system = samples_and_system(tiny_vlm_dir, sample_data_dir)
    samples = [{**s, "dataset": name} for s, name in zip(samples, ["a", "b", "a"], strict=True)]
    with torch.no_grad():
        alone = [system.compute_loss(data.train_dataloader().collate_fn([s])).loss.item() for s in samples]
        page_losses = system.compute_loss(PackCollator(data.inputs.pad_id, 8192)(samples)).page_losses
    by_dataset = dataset_losses(["a", "b", "a"], page_losses)
    assert by_dataset["a"] == pytest.approx((alone[0] + alone[2]) / 2, rel=1e-5)
    assert by_dataset["b"] == pytest.approx(alone[1], rel=1e-5)


def test_sdpa_varlen_runs_page_by_page_inside_the_model(tiny_vlm_dir, sample_data_dir, monkeypatch):
    """The decoder hands its packed text positions to sdpa_varlen, which then splits every layer by page."""
    import vlm_ocr.model.attention as attention

    data, samples, system = samples_and_system(tiny_vlm_dir, sample_data_dir, attn="sdpa_varlen")
    found = []
    original = attention.page_segments
    monkeypatch.setattr(attention, "page_segments", lambda positions: found.append(original(positions)) or found[-1])
    with torch.no_grad():
        system.compute_loss(PackCollator(data.inputs.pad_id, 8192)(samples))
    layers = system.model.config.text_config.num_hidden_layers
    lengths = [len(s["input_ids"]) for s in samples]
    assert len(found) == layers and found[0][0][: len(samples)] == [
        (sum(lengths[:i]), sum(lengths[: i + 1])) for i in range(len(samples))
    ]


def test_qwen3_5_refuses_packing_because_its_linear_attention_mixes_pages(family_model_dir, sample_data_dir):
    """Qwen3.5's linear-attention layers carry state from page to page on the installed kernels: a page's hidden
    states after another page differ from the page alone, so packing refuses with one line instead of training on
    mixed pages (should transformers' delta rule and convolution ever take page boundaries, this fails first)."""
    from vlm_ocr.errors import UsageError

    data, samples, system = samples_and_system(family_model_dir("qwen3_5"), sample_data_dir, count=2)
    batch = PackCollator(data.inputs.pad_id, 8192)(samples)
    with pytest.raises(UsageError, match="packing is not exact for Qwen3.5: its linear-attention layers"):
        system.compute_loss(batch)
    positions = page_position_ids(system.model.model, batch)  # each page's own positions, as packing would give
    with torch.no_grad():
        packed = system.model.model(**model_inputs(batch), position_ids=positions, use_cache=False).last_hidden_state
        alone = [
            system.model.model(**model_inputs(data.train_dataloader().collate_fn([s])), use_cache=False)
            for s in samples
        ]
    first = len(samples[0]["input_ids"])
    torch.testing.assert_close(packed[0, :first], alone[0].last_hidden_state[0], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(packed[0, first:], alone[1].last_hidden_state[0], atol=1e-3)  # page 1 leaked in
