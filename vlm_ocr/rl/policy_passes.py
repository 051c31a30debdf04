"""The forward passes of a GRPO step over one rollout: the policy's log-probabilities (with gradients) and the
reference's (frozen: a copy of the start model, or the same model with its LoRA adapters switched off)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
from torch import nn

from vlm_ocr.rl.logprobs import completion_logprobs, repeat_prompts
from vlm_ocr.rl.rollout import Rollout


class FrozenReference:
    """A frozen copy of the start model, kept outside the LightningModule's children: it is in no state dict,
    no optimizer and no strategy's wrapper (one more copy of the weights in memory: 2 bytes per parameter in bf16)."""

    def __init__(self, model: nn.Module):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def follow(self, policy: nn.Module) -> None:
        """Move to the policy's device and dtype (after the strategy placed and the precision plugin cast it);
        the rotary frequencies stay float32 (vlm_ocr.model.rotary)."""
        weight = next(policy.parameters())
        device = weight.device if not hasattr(weight, "to_local") else weight.to_local().device
        self.model.to(device=device, dtype=weight.dtype)


@contextlib.contextmanager
def adapters_disabled(model: nn.Module) -> Iterator[None]:
    """The base model inside: every LoRA layer of `model` skips its adapter (peft's disable flag, set directly so
    that no requires_grad changes as peft's `enable_adapters` would)."""
    layers = [m for m in model.modules() if hasattr(m, "_disable_adapters")]
    before = [m._disable_adapters for m in layers]
    for layer in layers:
        layer._disable_adapters = True
    try:
        yield
    finally:
        for layer, flag in zip(layers, before, strict=True):
            layer._disable_adapters = flag


def group_logprobs(
    model: nn.Module, rollout: Rollout, temperature: float, chunk_size: int, rows_per_forward: int | None
) -> torch.Tensor:
    """(P*G, T) log-probabilities of the rollout's completions under `model` (the caller picks no_grad)."""
    prompts = repeat_prompts(rollout.prompts, rollout.group_size)
    device = rollout.completion_ids.device
    prompts = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in prompts.items()}
    return completion_logprobs(
        model, prompts, rollout.completion_ids, rollout.completion_mask, temperature, chunk_size, rows_per_forward
    )


def reference_logprobs(
    policy: nn.Module,
    reference: FrozenReference | None,
    rollout: Rollout,
    temperature: float,
    chunk_size: int,
    rows_per_forward: int | None,
) -> torch.Tensor:
    """The reference's log-probabilities: the frozen copy, or (LoRA, no copy) the policy with adapters off."""
    with torch.no_grad():
        if reference is not None:
            return group_logprobs(reference.model, rollout, temperature, chunk_size, rows_per_forward)
        with adapters_disabled(policy):
            return group_logprobs(policy, rollout, temperature, chunk_size, rows_per_forward)


def init_sharded_root(model: nn.Module) -> None:
    """FSDP2: make the decoder (`model.model`, the root vlm_ocr.strategies shards) the root before the first rollout.
    transformers' `generate` encodes the images through `get_image_features`, outside the root's forward; left to
    itself, the merger would then initialise as a root of its own and the root's first forward would fail."""
    state = getattr(model.model, "_get_fsdp_state", None)
    if state is not None:
        state()._lazy_init()
