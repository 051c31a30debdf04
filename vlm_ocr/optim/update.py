"""One AdamW update of one flat tensor, in float32 inside whatever the weights and moments are stored in."""

from __future__ import annotations

import functools

import torch

from vlm_ocr.optim.rounding import round_to_bf16_stochastically

EAGER_CHUNK = 1 << 20  # elements per eager pass: its float32 temporaries stay a few MB, even for lm_head


def store(target: torch.Tensor, value: torch.Tensor, index: torch.Tensor, seed: torch.Tensor) -> None:
    """Write a float32 result into its storage: stochastically rounded into bf16, exactly into float32."""
    if target.dtype == torch.bfloat16:
        target.copy_(round_to_bf16_stochastically(value, index, seed))
    else:
        target.copy_(value)


def adamw_update_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    compensation: torch.Tensor | None,
    scalars: torch.Tensor,
    seeds: torch.Tensor,
    beta1: float,
    beta2: float,
    eps: float,
) -> None:
    """torch.optim.AdamW's step for one flat tensor, every operation in float32 (`grad` is only read).

    Args:
        param, grad, exp_avg, exp_avg_sq, compensation: 1-D views of the same length. `compensation` (bf16 weights
            with Kahan summation) holds the part of the float32 weight its bf16 storage could not; None otherwise.
        scalars: float32 [lr, lr x weight_decay, 1 - beta1^step, sqrt(1 - beta2^step)].
        seeds: int64 [exp_avg's, exp_avg_sq's and the weights' rounding seed, index of the first element].
    """
    index = torch.arange(param.numel(), device=param.device, dtype=torch.int64) + seeds[3]
    g = grad.float()
    m = exp_avg.float().lerp(g, 1.0 - beta1)
    v = exp_avg_sq.float().mul(beta2).addcmul(g, g, value=1.0 - beta2)
    store(exp_avg, m, index, seeds[0])
    store(exp_avg_sq, v, index, seeds[1])
    weight = param.float() if compensation is None else param.float() + compensation.float()
    # decay and update on the float32 weight: lr x weight_decay (2e-7) is far below bf16's relative spacing
    weight = weight * (1.0 - scalars[1]) - scalars[0] * (m / scalars[2]) / (v.sqrt() / scalars[3] + eps)
    if param.dtype == torch.float32:
        param.copy_(weight)
    elif compensation is not None:
        rounded = weight.to(param.dtype)
        compensation.copy_(weight - rounded.float())
        param.copy_(rounded)
    else:
        store(param, weight, index, seeds[2])


@functools.cache
def compiled_update():
    """adamw_update_ fused by torch.compile: one kernel per tensor, no float32 temporaries in memory."""
    return torch.compile(adamw_update_, fullgraph=True, dynamic=True)


def apply_update(tensors: list, scalars: torch.Tensor, seeds: list[int], fused: bool, **hyper: float) -> None:
    """Run the update over flat tensors [param, grad, exp_avg, exp_avg_sq, compensation or None]: fused in one
    compiled call, or eagerly in chunks of EAGER_CHUNK elements."""
    device = tensors[0].device
    if fused:
        compiled_update()(*tensors, scalars, torch.tensor(seeds, dtype=torch.int64, device=device), **hyper)
        return
    for start in range(0, tensors[0].numel(), EAGER_CHUNK):
        chunk = [None if t is None else t[start : start + EAGER_CHUNK] for t in tensors]
        chunk_seeds = torch.tensor([*seeds[:3], seeds[3] + start], dtype=torch.int64, device=device)
        adamw_update_(*chunk, scalars, chunk_seeds, **hyper)
