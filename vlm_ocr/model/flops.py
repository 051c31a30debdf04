"""Model FLOPs of a training step, for MFU: decoder forward + backward, causal attention, frozen vision forward."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vlm_ocr.model.families import family_of_model

PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "B200": 2250e12, "A100": 312e12, "L40S": 362e12}
"""Dense bf16 FLOP/s from NVIDIA's data sheets, by a substring of the device name. Not Lightning's
get_available_flops: it finds no peak for "NVIDIA H200" or B200, gives Hopper's sparse peaks (2x dense) and reads
an L40S as an L4."""


def peak_flops_for(device_name: str) -> float | None:
    """Dense bf16 peak of a CUDA device by its name; None for devices not in PEAK_BF16_FLOPS."""
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in device_name), None)


@dataclass(frozen=True)
class ParameterCounts:
    """Parameters by the work a training step does with them (the embedding table does no matmul)."""

    decoder_trainable: int  # decoder layers and final norm: forward, input gradient, weight gradient
    decoder_frozen: int  # forward and input gradient only (e.g. under LoRA)
    lm_head: int
    lm_head_trainable: bool
    vision: int  # vision tower and mergers, run once per patch
    vision_trainable: int


def parameter_counts(model: Any) -> ParameterCounts:
    """Count the model's parameters by role (works through a peft wrapper)."""
    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    visual = family_of_model(model).vision(model)

    def split(module: Any) -> tuple[int, int]:
        params = [(n, p) for n, p in module.named_parameters() if "embed_tokens" not in n]
        return sum(p.numel() for _, p in params if p.requires_grad), sum(p.numel() for _, p in params)

    decoder_trainable, decoder_all = split(decoder)
    vision_trainable, vision_all = split(visual)
    return ParameterCounts(
        decoder_trainable,
        decoder_all - decoder_trainable,
        head.weight.numel(),
        head.weight.requires_grad,
        vision_all,
        vision_trainable,
    )


def step_flops(model: Any, page_lengths: Iterable[int], patches: int, answer_tokens: int | None = None) -> float:
    """Useful FLOPs of one training step on these pages (for MFU: work an implementation may skip is not counted).

    Per decoder token: 2 x parameters forward, 2 x backward to the input, 2 x more for trainable weights.
    lm_head: the same, but only on the answer tokens the loss needs (all tokens when `answer_tokens` is None).
    Causal attention: 6 L d l^2 per page (forward and backward), never across pages, over the L layers with softmax
    attention (d: heads x head dim); linear-attention layers (hybrid families) add their projections only (their state
    updates, a few per mille of a layer's work, are not counted).
    Vision: 2 x parameters x patches forward; trainable vision weights add 4 x theirs (input and weight
    gradients).
    """
    counts = parameter_counts(model)
    config = model.config.text_config
    layers = family_of_model(model).quadratic_attention_layers(config)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    width = config.num_attention_heads * head_dim
    lengths = list(page_lengths)
    tokens = sum(lengths)
    head_tokens = tokens if answer_tokens is None else answer_tokens
    flops = (6.0 * counts.decoder_trainable + 4.0 * counts.decoder_frozen) * tokens
    flops += (6.0 if counts.lm_head_trainable else 4.0) * counts.lm_head * head_tokens
    flops += sum(6.0 * layers * width * length**2 for length in lengths)
    flops += (2.0 * counts.vision + 4.0 * counts.vision_trainable) * patches
    return flops
