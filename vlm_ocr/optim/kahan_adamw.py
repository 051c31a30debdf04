"""AdamW for bf16 weights that keeps small updates, by Kahan-compensated summation.

A bf16 weight near 1.0 moves in steps of 2^-7; an AdamW update of lr=2e-5 is far below half of that, so
plain AdamW on bf16 weights rounds most updates away. This optimizer keeps, per weight, the rounding error
of its last update (in the weight's dtype) and adds it to the next one, so the weights follow the fp32
trajectory closely without fp32 master weights.

Memory per trainable parameter (bytes): bf16 weight 2 + bf16 gradient 2 + fp32 moments 8 + compensation 2
= 14, against 16 for fp32 master weights with fp32 gradients (Lightning `bf16-mixed` on an fp32 model) and
8 for torch's AdamW on bf16 weights (its moments are bf16 too; it loses small updates). An 8-bit optimizer
(bitsandbytes `AdamW8bit`, optional, GPU) stores the moments in 2 bytes: 6 per parameter, with bf16 weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class KahanAdamW(torch.optim.Optimizer):
    """AdamW (decoupled weight decay) with fp32 moments and Kahan-compensated low-precision weights.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        betas: coefficients of the running averages of the gradient and its square.
        eps: term added to the denominator.
        weight_decay: decoupled weight decay.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group["lr"], beta1, beta2, group["eps"], group["weight_decay"])
        return loss

    def _update(self, param: torch.Tensor, lr: float, beta1: float, beta2: float, eps: float, decay: float) -> None:
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param, dtype=torch.float32)
            state["exp_avg_sq"] = torch.zeros_like(param, dtype=torch.float32)
            if param.dtype != torch.float32:
                state["compensation"] = torch.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        grad = param.grad.float()
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (exp_avg_sq / (1 - beta2**step)).sqrt_().add_(eps)
        weight = param.float()
        delta = (exp_avg / (1 - beta1**step)).div_(denom).add_(weight, alpha=decay).mul_(-lr)
        if param.dtype == torch.float32:
            param.add_(delta)
            return
        compensation = state["compensation"]
        target = weight.add_(delta.add_(compensation.float()))  # the fp32 value the weight should now have
        param.copy_(target)  # rounds to the weight's dtype
        compensation.copy_(target.sub_(param.float()))  # what the rounding lost, added to the next update
