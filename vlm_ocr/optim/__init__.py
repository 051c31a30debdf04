"""Optimizers for full fine-tuning in bf16 (used as class_path in experiment configs)."""

from vlm_ocr.optim.kahan_adamw import KahanAdamW

__all__ = ["KahanAdamW"]
