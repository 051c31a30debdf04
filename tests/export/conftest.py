"""Real training checkpoints of the tiny model (full and LoRA), a model of another shape, fast parity settings."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from tiny_setup import datamodule, module

from vlm_ocr.callbacks import ExportHuggingFace
from vlm_ocr.model.peft import LoraSpec

LORA = LoraSpec(rank=4, alpha=8.0, dropout=0.0, extra_trainable=[r"model\.visual\.merger\.mlp\.2\..*"])


def fit_twice(root: Path, tiny_vlm_dir: Path, sample_data_dir: Path, **module_args) -> list[Path]:
    """Two optimizer steps on the sample document pages, checkpointed after each: [step 1, step 2].

    The fit's ExportHuggingFace callback also writes root/hf_model.
    """
    data = datamodule(tiny_vlm_dir, sample_data_dir)
    system = module(tiny_vlm_dir, lr=5e-2, **module_args)
    checkpoints = L.pytorch.callbacks.ModelCheckpoint(root, every_n_train_steps=1, save_top_k=-1)
    export = ExportHuggingFace(str(root / "hf_model"))  # what a fit writes at its end
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=2,
        logger=False,
        callbacks=[checkpoints, export],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(system, data)
    return [root / "epoch=0-step=1.ckpt", root / "epoch=0-step=2.ckpt"]


@pytest.fixture(scope="session")
def full_checkpoints(tmp_path_factory, tiny_vlm_dir, sample_data_dir) -> list[Path]:
    return fit_twice(tmp_path_factory.mktemp("full"), tiny_vlm_dir, sample_data_dir)


@pytest.fixture(scope="session")
def lora_checkpoints(tmp_path_factory, tiny_vlm_dir, sample_data_dir) -> list[Path]:
    return fit_twice(tmp_path_factory.mktemp("lora"), tiny_vlm_dir, sample_data_dir, lora=LORA)


@pytest.fixture(scope="session")
def other_shape_dir(tmp_path_factory) -> Path:
    """A tiny Qwen2.5-VL whose MLPs are narrower (intermediate 48, not 64): checkpoints of the tiny model don't fit."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vlm_ocr.model.architecture import build_config

    config = build_config("tiny")
    config.text_config.intermediate_size = 48
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("other") / "narrow"
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def page_batch(tiny_vlm_dir):
    """Model inputs of one generated page, as the parity check builds them."""
    from vlm_ocr.data.processor import load_processor
    from vlm_ocr.export.probe_pages import generated_pages, page_prompts

    return page_prompts(load_processor(str(tiny_vlm_dir)), generated_pages(112, 1))[0]


@pytest.fixture
def logits_of(page_batch):
    @torch.no_grad()
    def run(model):
        return model.eval()(**page_batch).logits[0].float()

    return run
