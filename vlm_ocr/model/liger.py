"""Liger's fused Triton kernels for Qwen2.5-VL's decoder (`model.liger_kernels`, GPU)."""

from __future__ import annotations


def apply_liger_kernels() -> None:
    """Liger's fused decoder kernels for Qwen2.5-VL (the loss stays vlm_ocr's answer-only chunked one)."""
    try:
        from liger_kernel.transformers import apply_liger_kernel_to_qwen2_5_vl
    except ImportError as err:
        raise RuntimeError(f"model.liger_kernels needs liger-kernel (pip install liger-kernel): {err}") from None
    apply_liger_kernel_to_qwen2_5_vl(
        rope=True, rms_norm=True, swiglu=True, cross_entropy=False, fused_linear_cross_entropy=False
    )
