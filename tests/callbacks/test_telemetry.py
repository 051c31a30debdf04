import csv

import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from tiny_setup import datamodule, module, trainer

from vlm_ocr.callbacks import Telemetry
from vlm_ocr.model.batch_tokens import count_tokens, page_lengths, spatial_merge_size
from vlm_ocr.model.flops import peak_flops_for, step_flops
from vlm_ocr.model.parameters import set_trainable


def test_telemetry_logs_throughput_flops_and_data_wait(tmp_path, tiny_vlm_dir, sample_data_dir):
    system = module(tiny_vlm_dir)
    data = datamodule(tiny_vlm_dir, sample_data_dir)
    logger = CSVLogger(tmp_path)
    telemetry = Telemetry(peak_flops=1e12, log_every_n_steps=2)
    trainer(tmp_path, max_steps=4, callbacks=[telemetry], logger=logger, log_every_n_steps=1).fit(system, data)
    with open(f"{logger.log_dir}/metrics.csv") as handle:
        logged = [row for row in csv.DictReader(handle) if row.get("train/mfu")]
    assert len(logged) == 2  # one log per two batches
    batch = data.train_dataloader().collate_fn([data.train_set[(0, 0)]])
    page = count_tokens(batch, spatial_merge_size(system.model))
    assert page.image_tokens == int(batch["mm_token_type_ids"].sum())  # merge size read from the model: 4 patches
    one_page = step_flops(system.model, page.page_lengths, page.patches, page.answer_tokens)
    for row in logged:
        wait_share, mfu, tokens_per_s = (
            float(row[k]) for k in ("train/data_wait_share", "train/mfu", "train/tokens_per_s")
        )
        assert 0.0 <= wait_share < 1.0 and mfu > 0
        assert float(row["train/pages_per_s"]) > 0
        image, text = float(row["train/image_tokens_per_s"]), float(row["train/text_tokens_per_s"])
        assert image > 0 and text > 0 and image + text == pytest.approx(tokens_per_s)
        # one clock for both: FLOPs per token of the logged window match one page's (pages of similar size)
        assert mfu * 1e12 / tokens_per_s == pytest.approx(one_page / page.total, rel=0.5)


def test_flops_formula_and_peak_table(tiny_vlm_dir):
    system = module(tiny_vlm_dir)
    system.configure_model()
    model = system.model
    config = model.config.text_config
    layers = sum(p.numel() for p in model.model.language_model.layers.parameters())
    decoder = layers + model.model.language_model.norm.weight.numel()
    head = model.lm_head.weight.numel()
    vision = sum(p.numel() for p in model.model.visual.parameters())
    merger = sum(p.numel() for p in model.model.visual.merger.parameters())  # the only trainable vision part
    attention = 6 * config.num_hidden_layers * config.hidden_size * (60**2 + 40**2)
    expected = 6 * decoder * 100 + 6 * head * 30 + attention + (2 * vision + 4 * merger) * 64
    assert step_flops(model, [60, 40], 64, answer_tokens=30) == pytest.approx(expected)
    full_head = step_flops(model, [60, 40], 64)  # without answer counts lm_head runs on every token
    assert full_head - expected == pytest.approx(6 * head * 70)
    set_trainable(model, vision_tower=False, merger=False, decoder=False)
    for p in model.lm_head.parameters():
        p.requires_grad_(False)
    frozen = 4 * decoder * 100 + 4 * head * 30 + attention + 2 * vision * 64  # forward and input gradients only
    assert step_flops(model, [60, 40], 64, answer_tokens=30) == pytest.approx(frozen)
    assert peak_flops_for("NVIDIA H200") == 989e12 and peak_flops_for("cpu") is None
    assert page_lengths({"page_lengths": [[3, 4], [5]]}) == [3, 4, 5]
    assert page_lengths({"attention_mask": torch.tensor([[1, 1, 0], [1, 1, 1]])}) == [2, 3]
