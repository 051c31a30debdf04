"""The learning-rate schedule of every training stage: a transformers schedule stepped once per optimizer step."""

from __future__ import annotations

from typing import Any


def step_scheduler(
    optimizer: Any,
    name: str,
    total_steps: int,
    warmup_steps: int,
    scheduler_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Lightning's `configure_optimizers` answer: the optimizer and `transformers.get_scheduler(name)` over
    `total_steps` optimizer steps (the trainer's `estimated_stepping_batches`), warmed up for `warmup_steps`."""
    from transformers import get_scheduler

    scheduler = get_scheduler(
        name,
        optimizer,
        num_warmup_steps=warmup_steps,
        num_training_steps=total_steps,
        scheduler_specific_kwargs=scheduler_kwargs,
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}
