"""Builders for the long-run tests: the tiny model, two small train roots, a CPU trainer with verified checkpoints."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import lightning as L
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def roles() -> dict:
    """The pipeline by role: the recipe's without the text step, small pages."""
    from vlm_ocr.data import BuildMessages, FilterRotated, FormatTarget, ParseFrontMatter, RenderPage, TextRuleFilter

    return dict(
        read=ParseFrontMatter(),
        page_filters=[FilterRotated()],
        text_filters=[TextRuleFilter("off")],
        render=RenderPage(112),
        target=FormatTarget(),
        messages=BuildMessages(),
    )


def make_data(model_dir, data_dir, roots=("train/document", "train/table"), **kwargs):
    from vlm_ocr.data import PageDataModule

    options = dict(data_seed=301, max_length=2048, num_workers=0)
    return PageDataModule(
        str(model_dir),
        data_root=str(data_dir),
        train_roots=list(roots),
        **{**options, **roles(), **kwargs},
    )


def make_module(model_dir, lr=3e-3, **kwargs):
    from vlm_ocr.model.module import VlmOcrModule

    optimizer = functools.partial(torch.optim.AdamW, lr=lr, weight_decay=0.01)
    return VlmOcrModule(str(model_dir), dtype="float32", attn_implementation="sdpa", optimizer=optimizer, **kwargs)


def make_trainer(root, callbacks=(), every_n_steps=None, **kwargs):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from vlm_ocr.checkpointing import AtomicCheckpointIO

    callbacks = list(callbacks)
    if every_n_steps:
        callbacks.append(
            ModelCheckpoint(
                dirpath=Path(root) / "ckpt",
                filename="step{step}",
                auto_insert_metric_name=False,
                every_n_train_steps=every_n_steps,
                save_top_k=-1,
                save_last=True,
            )
        )
    options = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=bool(every_n_steps),
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        gradient_clip_val=1.0,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        use_distributed_sampler=False,
        deterministic=True,
        plugins=[AtomicCheckpointIO()],
        callbacks=callbacks,
    )
    return L.Trainer(**{**options, **kwargs})


def child_env(**extra) -> dict[str, str]:
    """Environment of a training subprocess: offline, one thread (reproducible sums), the recorder importable."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        WANDB_MODE="disabled",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")]),
    )
    env.update(extra)
    return env


PYTHON = sys.executable
