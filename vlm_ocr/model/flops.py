"""Model FLOPs of a training step, for MFU: decoder forward + backward, causal attention, frozen vision forward."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "B200": 2250e12, "A100": 312e12, "L40S": 362e12}
"""Dense bf16 FLOP/s from NVIDIA's data sheets, by a substring of the device name."""


def peak_flops_for(device_name: str) -> float | None:
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in device_name), None)


def parameter_counts(model: Any) -> tuple[int, int]:
    """(trainable parameters outside the embedding table, vision tower parameters)."""
    trainable = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "embed_tokens" not in n)
    vision = sum(p.numel() for p in model.model.visual.parameters())
    return trainable, vision


def step_flops(model: Any, page_lengths: Iterable[int], patches: int) -> float:
    """6 x trainable parameters x tokens + 6 L d l^2 per page (causal attention, forward and backward)
    + 2 x vision parameters x patches (the vision tower's forward)."""
    config = model.config.text_config
    trainable, vision = parameter_counts(model)
    flops = 2.0 * vision * patches
    for length in page_lengths:
        flops += 6.0 * trainable * length + 6.0 * config.num_hidden_layers * config.hidden_size * length**2
    return flops


def batch_page_lengths(batch: dict[str, Any]) -> list[int]:
    """Token count of every page of a padded or packed batch."""
    if "page_lengths" in batch:
        return [length for row in batch["page_lengths"] for length in row]
    return [int(n) for n in batch["attention_mask"].sum(dim=1).tolist()]
