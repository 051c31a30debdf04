"""One AdamW update of one flat tensor, in float32 inside whatever the weights and moments are stored in."""

from __future__ import annotations

import functools

import torch

from vlm_ocr.optim.rounding import hash32, round_to_bf16_stochastically, round_with_bits

EAGER_CHUNK = 1 << 20  # elements per eager pass: its float32 temporaries stay a few MB, even for lm_head
Scalar = float | int | torch.Tensor  # Python numbers in eager passes; 0-d tensors in the compiled one (no recompiles)


def adamw_update_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    compensation: torch.Tensor | None,
    hyper: tuple[Scalar, ...],
    seeds: tuple[Scalar, ...],
    beta1: float,
    beta2: float,
    eps: float,
) -> None:
    """torch.optim.AdamW's step for one flat tensor, every operation in float32 (`grad` is only read).

    Args:
        param, grad, exp_avg, exp_avg_sq, compensation: 1-D views of the same length. `compensation` (bf16 weights
            with Kahan summation) holds the part of the float32 weight its bf16 storage could not; None otherwise.
        hyper: (lr, lr x weight_decay, 1 - beta1^step, sqrt(1 - beta2^step)).
        seeds: (the moments' rounding seed, the weights' rounding seed, index of the first element).
    """
    lr, decay, bias1, bias2_sqrt = hyper
    index = torch.arange(param.numel(), device=param.device, dtype=torch.int64) + seeds[2]
    g = grad.float()
    m = exp_avg.float().lerp(g, 1.0 - beta1)
    v = exp_avg_sq.float().mul(beta2).addcmul(g, g, value=1.0 - beta2)
    if exp_avg.dtype == torch.bfloat16:  # one hash, two independent halves: the first moment's, the second's
        bits = hash32(index, seeds[0])
        exp_avg.copy_(round_with_bits(m, bits & 0xFFFF))
        exp_avg_sq.copy_(round_with_bits(v, bits >> 16))
    else:
        exp_avg.copy_(m)
        exp_avg_sq.copy_(v)
    weight = param.float() if compensation is None else param.float() + compensation.float()
    # decay and update on the float32 weight: lr x weight_decay (2e-7) is far below bf16's relative spacing
    weight = weight * (1.0 - decay) - lr * (m / bias1) / (v.sqrt() / bias2_sqrt + eps)
    if param.dtype == torch.float32:
        param.copy_(weight)
    elif compensation is not None:
        rounded = weight.to(param.dtype)
        compensation.copy_(weight - rounded.float())
        param.copy_(rounded)
    else:
        param.copy_(round_to_bf16_stochastically(weight, index, seeds[1]))


@functools.cache
def compiled_update():
    """adamw_update_ fused by torch.compile: one kernel per tensor, no float32 temporaries in memory."""
    return torch.compile(adamw_update_, fullgraph=True, dynamic=True)


def apply_update(tensors: list, hyper: list[float], seeds: list[int], fused: bool, **betas_eps: float) -> None:
    """Run the update over flat tensors [param, grad, exp_avg, exp_avg_sq, compensation or None]: fused in one
    compiled call, or eagerly in chunks of EAGER_CHUNK elements."""
    if fused:
        device = tensors[0].device
        values = torch.tensor(hyper, dtype=torch.float32, device=device).unbind()
        numbers = torch.tensor(seeds, dtype=torch.int64, device=device).unbind()
        compiled_update()(*tensors, values, numbers, **betas_eps)
        return
    for start in range(0, tensors[0].numel(), EAGER_CHUNK):
        chunk = [None if t is None else t[start : start + EAGER_CHUNK] for t in tensors]
        adamw_update_(*chunk, tuple(hyper), (seeds[0], seeds[1], seeds[2] + start), **betas_eps)
