"""Liger's fused Triton kernels for the decoder (`model.liger_kernels`, GPU): each family names its patch."""

from __future__ import annotations

from importlib import import_module

from vlm_ocr.model.families import ModelFamily


def apply_liger_kernels(family: ModelFamily) -> None:
    """The family's Liger patch (RMSNorm, SwiGLU, and rope where Liger has it); the loss stays vlm_ocr's
    answer-only chunked one."""
    name, flags = family.liger
    try:
        patch = getattr(import_module("liger_kernel.transformers"), name)
    except (ImportError, AttributeError) as err:
        message = f"model.liger_kernels needs liger-kernel with {name} (pip install liger-kernel): {err}"
        raise RuntimeError(message) from None
    patch(**flags, cross_entropy=False, fused_linear_cross_entropy=False)
