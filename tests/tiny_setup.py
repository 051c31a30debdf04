"""The tiny training setup the tests share: the recipe's steps on the sample documents, a float32 module, a quiet
CPU trainer."""

import functools
import json
from pathlib import Path

import lightning as L
import torch

from vlm_ocr.data import (
    BuildMessages,
    FilterRotated,
    FormatTarget,
    PageDataModule,
    ParseFrontMatter,
    ReformatLatexBoldItalic,
    RenderPage,
    TextRuleFilter,
)
from vlm_ocr.model.module import VlmOcrModule

TINY_CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "tiny.yaml"


def datamodule(tiny_vlm_dir, sample_data_dir, train="train/document", **kwargs):
    roles = dict(
        read=ParseFrontMatter(),
        page_filters=[FilterRotated()],
        text_steps=[ReformatLatexBoldItalic()],
        text_filters=[TextRuleFilter("off")],
        render=RenderPage(112),
        target=FormatTarget(),
        messages=BuildMessages(),
    )
    return PageDataModule(
        processor_path=str(tiny_vlm_dir),
        data_root=str(sample_data_dir),
        train_roots=[train],
        eval_roots={"doc_eval": "eval/document"},
        max_length=2048,
        **{**roles, **kwargs},
    )


def module(tiny_vlm_dir, lr=3e-3, attn_implementation="auto", **kwargs):
    """The float32 module; `auto` attention is what users get here (sdpa_varlen without flash-attn)."""
    return VlmOcrModule(
        str(tiny_vlm_dir),
        dtype="float32",
        attn_implementation=attn_implementation,
        optimizer=functools.partial(torch.optim.AdamW, lr=lr, weight_decay=0.01),
        **kwargs,
    )


def trainer(tmp_path, **kwargs):
    options = dict(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        gradient_clip_val=1.0,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    return L.Trainer(**{**options, **kwargs})


def exporting_fit_args(cli_env, export, *extra) -> list[str]:
    """CLI arguments of a 2-step tiny.yaml fit whose only callback exports the model to `export`."""
    callback = {"class_path": "vlm_ocr.callbacks.ExportHuggingFace", "init_args": {"dirname": str(export)}}
    return [
        "--config",
        str(TINY_CONFIG),
        *cli_env,
        "--trainer.max_steps",
        "2",
        "--data.num_workers",
        "0",
        "--trainer.enable_progress_bar",
        "false",
        "--callbacks",
        "null",  # none of tiny.yaml's
        "--trainer.callbacks",
        json.dumps([callback]),
        *extra,
    ]
