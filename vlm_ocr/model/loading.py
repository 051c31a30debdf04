"""The model's from_pretrained: real checkpoints and local folders alike (the processor's is vlm_ocr.data.processor)."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any, Literal

import torch

from vlm_ocr.model.attention import SDPA_VARLEN, register_sdpa_varlen
from vlm_ocr.model.families import family_of
from vlm_ocr.model.liger import apply_liger_kernels
from vlm_ocr.model.rotary import keep_rotary_float32

logger = logging.getLogger(__name__)

AttnImplementation = Literal["auto", "flash_attention_2", "sdpa_varlen", "sdpa", "eager"]
DTypeName = Literal["bfloat16", "float16", "float32"]


def resolve_attn_implementation(requested: AttnImplementation = "auto") -> str:
    """`auto` picks flash_attention_2 when flash-attn is importable and CUDA is present, else sdpa_varlen
    (PyTorch's SDPA run page by page on packed rows, plain sdpa otherwise: vlm_ocr.model.attention)."""
    has_flash = importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available()
    if requested == "auto":
        chosen = "flash_attention_2" if has_flash else SDPA_VARLEN
    elif requested == "flash_attention_2" and not has_flash:
        logger.warning("flash_attention_2 requested but flash-attn/CUDA is not available: falling back to sdpa_varlen")
        chosen = SDPA_VARLEN
    else:
        chosen = requested
    if chosen == SDPA_VARLEN:
        register_sdpa_varlen()
    logger.info("attention implementation: %s (requested %s)", chosen, requested)
    return chosen


def load_model(
    pretrained: str,
    dtype: DTypeName = "bfloat16",
    attn_implementation: AttnImplementation = "auto",
    liger_kernels: bool = False,
) -> Any:
    """The model of a hub id or a local folder, as its family's class (chosen by config.json's model_type; another
    model_type fails with one line naming the supported ones), its rotary frequencies kept float32 through any
    later cast of the module (vlm_ocr.model.rotary); `liger_kernels` patches the decoder with the family's Liger
    kernels first (vlm_ocr.model.liger)."""
    family = family_of(pretrained)
    if liger_kernels:  # Liger patches the transformers classes, so before from_pretrained builds the model
        apply_liger_kernels(family)
    model = family.load_class().from_pretrained(
        pretrained, dtype=getattr(torch, dtype), attn_implementation=resolve_attn_implementation(attn_implementation)
    )
    keep_rotary_float32(model)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    logger.info("loaded %s %s (%s, %.1fM parameters)", family.name, pretrained, dtype, count)
    return model
