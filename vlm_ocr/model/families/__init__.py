"""The model families vlm_ocr trains, one module each, and how a checkpoint's `model_type` picks its family."""

from __future__ import annotations

from typing import Any

from vlm_ocr.errors import UsageError
from vlm_ocr.model.families.base import ModelFamily
from vlm_ocr.model.families.qwen2_5_vl import QWEN2_5_VL
from vlm_ocr.model.families.qwen3_5 import QWEN3_5
from vlm_ocr.model.families.qwen3_vl import QWEN3_VL

FAMILIES: tuple[ModelFamily, ...] = (QWEN2_5_VL, QWEN3_VL, QWEN3_5)
PRESETS: dict[str, ModelFamily] = {name: family for family in FAMILIES for name in family.presets}
"""make-tiny-model's presets, each with its family."""

__all__ = [
    "FAMILIES",
    "PRESETS",
    "QWEN2_5_VL",
    "QWEN3_5",
    "QWEN3_VL",
    "ModelFamily",
    "family_for",
    "family_of",
    "family_of_model",
]


def family_for(model_type: str, source: str = "the checkpoint") -> ModelFamily:
    """The family of a config's `model_type`; any other fails with one line naming the supported ones."""
    for family in FAMILIES:
        if family.model_type == model_type:
            return family
    supported = ", ".join(f"{f.model_type} ({f.name})" for f in FAMILIES)
    raise UsageError(f"{source}: model_type {model_type!r} is not a supported family; supported: {supported}")


def family_of(pretrained: str) -> ModelFamily:
    """The family of a model folder or hub id, from its config.json (read, not the model loaded)."""
    from transformers import PretrainedConfig

    config, _ = PretrainedConfig.get_config_dict(pretrained)
    return family_for(config.get("model_type", "<none>"), str(pretrained))


def family_of_model(model: Any) -> ModelFamily:
    """The family of a loaded model (or a peft wrapper of one, or its inner model)."""
    return family_for(model.config.model_type, type(model).__name__)
