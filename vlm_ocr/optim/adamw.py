"""Bf16AdamW: AdamW on bf16 weights that follows float32 AdamW over a whole run, in 10 bytes per parameter.

Written here because no maintained optimizer does this (torch-optimi 0.3.3 and torchao 0.18 both keep bf16
moments rounded to nearest, whose second moment stops decreasing after about 700 steps at beta2 0.999).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch.distributed.tensor import DTensor

from vlm_ocr.optim.rounding import stream_seed
from vlm_ocr.optim.update import apply_update


def local(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's shard of a DTensor (FSDP2), or the tensor itself."""
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor


def first_element_index(param: torch.Tensor) -> int:
    """Flat index, in the whole parameter, of the first element of this rank's shard: rounding bits are drawn per
    element of the whole tensor, so they do not depend on how it is sharded."""
    if not isinstance(param, DTensor):
        return 0
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    _, offset = compute_local_shape_and_global_offset(param.shape, param.device_mesh, param.placements)
    if any(offset[1:]):
        raise ValueError("Bf16AdamW supports DTensor parameters sharded along their first dimension only (FSDP2's)")
    return offset[0] * math.prod(param.shape[1:]) if param.ndim else 0


class Bf16AdamW(torch.optim.Optimizer):
    """torch.optim.AdamW's update (decay lr x weight_decay per step, bias-corrected moments) computed in float32
    for bf16 weights, without the losses of bf16 storage.

    - `weights: kahan` (the recipe): bf16 weights plus a bf16 Kahan compensation holding what the weight's
      storage could not, so updates far below bf16's spacing (lr 2e-5) and the decay add up as in float32.
      `stochastic`: the weights themselves are stochastically rounded (2 bytes less, unbiased but noisy).
    - `moments: bfloat16` stores both moments stochastically rounded: with beta2 0.999 a nearest-rounded second
      moment can no longer decrease once the step's change falls below half its spacing, and ratchets up to
      the largest recent squared gradient. `float32` stores them exactly (4 bytes more).
    - Rounding bits are a hash of (seed, parameter, step, element): a resumed run rounds exactly as the
      uninterrupted one, and DDP replicas stay identical.
    - A parameter without a gradient (a step the NonFiniteGuard skipped) keeps its weights, state and step
      counter; `.grad` is only read; checkpointed states come back in the dtypes they were saved in.
    Float32 parameters get plain float32 AdamW. Bytes per trainable parameter, with its bf16 gradient: 10
    (kahan, bfloat16 moments), 8 (stochastic), 14 (kahan, float32 moments).

    Args:
        params: parameters or parameter groups (a group may set its own lr, betas, eps, weight_decay).
        lr: learning rate.
        betas: the moments' decay rates.
        eps: added to the square root of the second moment.
        weight_decay: decoupled decay, as torch.optim.AdamW's: weights times 1 - lr x weight_decay per step.
        weights: how bf16 weights keep updates below their spacing: `kahan` or `stochastic` rounding.
        moments: storage of the moments of bf16 weights: `bfloat16` (stochastically rounded) or `float32`.
        seed: seed of the stochastic rounding.
        fused: run each tensor's update as one torch.compile'd kernel; None: on CUDA (eager elsewhere, in
            chunks of a million elements, so no float32 temporary grows with the tensor).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        weights: Literal["kahan", "stochastic"] = "kahan",
        moments: Literal["bfloat16", "float32"] = "bfloat16",
        seed: int = 0,
        fused: bool | None = None,
    ):
        if weights not in ("kahan", "stochastic") or moments not in ("bfloat16", "float32"):
            raise ValueError(
                f"Bf16AdamW: weights must be kahan or stochastic ({weights!r}), moments bfloat16 or "
                f"float32 ({moments!r})"
            )
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, weights=weights, moments=moments)
        super().__init__(params, defaults)
        self.seed = seed
        self.fused = fused

    def _init_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        if param.dtype not in (torch.bfloat16, torch.float32):
            raise ValueError(f"Bf16AdamW: parameters must be bfloat16 or float32, not {param.dtype}")
        low = param.dtype == torch.bfloat16
        moment_dtype = torch.bfloat16 if low and group["moments"] == "bfloat16" else torch.float32
        state = self.state[param]
        state["step"] = torch.tensor(0, dtype=torch.int64)  # an integer: load_state_dict leaves it as it is
        state["exp_avg"] = torch.zeros_like(param, dtype=moment_dtype, memory_format=torch.contiguous_format)
        state["exp_avg_sq"] = torch.zeros_like(param, dtype=moment_dtype, memory_format=torch.contiguous_format)
        if low and group["weights"] == "kahan":
            state["compensation"] = torch.zeros_like(param, memory_format=torch.contiguous_format)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:  # Lightning's closure runs backward, the hooks and gradient clipping
            with torch.enable_grad():
                loss = closure()
        ordinal = -1  # the parameter's position over all groups: part of its rounding seed
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                ordinal += 1
                if param.grad is None:
                    continue
                state = self.state[param] or self._init_state(param, group)
                state["step"] += 1
                step = int(state["step"])
                lr = float(group["lr"])
                view = local(param)
                fused = self.fused if self.fused is not None else view.is_cuda
                hyper = [lr, lr * group["weight_decay"], 1 - beta1**step, math.sqrt(1 - beta2**step)]
                seeds = [stream_seed(self.seed, ordinal, step, use) for use in (0, 1)] + [first_element_index(param)]
                flat = [
                    flat_view(t)
                    for t in (param, param.grad, state["exp_avg"], state["exp_avg_sq"], state.get("compensation"))
                ]
                apply_update(flat, hyper, seeds, fused, beta1=beta1, beta2=beta2, eps=group["eps"])
        return loss

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's loading casts every floating state tensor to its parameter's dtype (float32 moments of bf16
        weights would come back bf16, silently): put each back in the dtype it was saved in."""
        saved_ids = [i for group in state_dict["param_groups"] for i in group["params"]]
        saved = state_dict["state"]
        super().load_state_dict(state_dict)
        params = [p for group in self.param_groups for p in group["params"]]
        for saved_id, param in zip(saved_ids, params, strict=True):
            for name, value in saved.get(saved_id, {}).items():
                loaded = self.state[param].get(name)
                if isinstance(value, torch.Tensor) and loaded is not None and loaded.dtype != value.dtype:
                    self.state[param][name] = value.to(device=loaded.device)


def flat_view(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """A 1-D view of this rank's part of a tensor (no copy: the update writes through it)."""
    if tensor is None:
        return None
    part = local(tensor)
    if not part.is_contiguous():
        raise ValueError("Bf16AdamW needs contiguous parameters and gradients")
    return part.view(-1)
