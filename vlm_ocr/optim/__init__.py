"""Optimizers for bf16 training that keep float32's updates."""

from vlm_ocr.optim.adamw import Bf16AdamW

__all__ = ["Bf16AdamW"]
