"""Skip optimizer steps whose gradients are not finite, log them, and stop after too many in a row."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn


class NonFiniteTraining(RuntimeError):
    """Too many optimizer steps in a row had NaN or infinite gradients."""


def grads_are_finite(parameters: Any) -> bool:
    """True when every gradient (this rank's shard of a sharded one) is finite."""
    flags = [
        (p.grad.to_local() if hasattr(p.grad, "to_local") else p.grad).isfinite().all()
        for p in parameters
        if p.grad is not None
    ]
    return bool(torch.stack(flags).all()) if flags else True


class NonFiniteGuard(L.Callback):
    """Drops the update of a step whose gradients hold NaN or inf (the data or the loss blew up), instead of
    writing NaN into the weights; the learning-rate schedule and the data move on as usual.

    The decision is taken jointly by all ranks, so sharded gradients and DDP stay in step. The running count
    is logged as `train/nonfinite_skipped` and kept in checkpoints.

    Args:
        max_consecutive: stop the run with NonFiniteTraining after this many skipped steps in a row.
    """

    def __init__(self, max_consecutive: int = 10):
        self.max_consecutive = max_consecutive
        self.skipped = 0
        self.consecutive = 0

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        local = grads_are_finite(p for group in optimizer.param_groups for p in group["params"])
        if trainer.strategy.reduce_boolean_decision(local, all=True):
            self.consecutive = 0
        else:
            self.skipped += 1
            self.consecutive += 1
            optimizer.zero_grad(set_to_none=True)  # AdamW leaves parameters without a gradient untouched
            rank_zero_warn(
                f"step {trainer.global_step}: non-finite gradients, update skipped "
                f"({self.consecutive} in a row, {self.skipped} in all)"
            )
        pl_module.log("train/nonfinite_skipped", float(self.skipped), on_step=True, on_epoch=False)
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteTraining(
                f"{self.consecutive} optimizer steps in a row had NaN or infinite gradients (up to step "
                f"{trainer.global_step}, {self.skipped} skipped in all): stopping. Lower the learning rate, check "
                "the pages of these steps, or resume from an earlier checkpoint."
            )

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "consecutive": self.consecutive}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped = state_dict["skipped"]
        self.consecutive = state_dict["consecutive"]
