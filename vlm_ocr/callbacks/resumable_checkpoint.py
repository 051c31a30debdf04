"""ResumableCheckpoint: Lightning's ModelCheckpoint, except that a resumed run keeps exactly the checkpoints, the
logger version and the final `last.ckpt` an uninterrupted run would."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

LOGGER_VERSION_KEY = "vlm_ocr_logger_version"
"""In a checkpoint: the version of the logger the run wrote its metrics to (its resume continues there)."""


class ResumableCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint (same arguments) with three differences that make a resumed run match an
    uninterrupted one:

    - the last value of the monitored metric is part of its state: after a resume, a checkpoint saved before the next
      validation is ranked with it, as it is in the uninterrupted run (Lightning's waits for the next validation's
      value instead), so the best-k kept are the same;
    - every checkpoint records the logger's version, which `fit --ckpt_path` continues (experiment_cli) instead of
      starting a new `version_N`;
    - with `save_last`, `last.ckpt` is written at the end of fit too, so it is the final step (the exported model's),
      not the last multiple of `every_n_train_steps`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_monitored: float | None = None

    def _monitor_candidates(self, trainer: L.Trainer) -> dict[str, torch.Tensor]:
        candidates = super()._monitor_candidates(trainer)
        if self.monitor is not None:
            if self.monitor in candidates:
                self._last_monitored = float(candidates[self.monitor])
            elif self._last_monitored is not None:  # resumed before the next validation: the value it had
                candidates[self.monitor] = torch.tensor(self._last_monitored)
        return candidates

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._trainer = weakref.ref(trainer)  # its metrics are read when a checkpoint takes this callback's state

    def state_dict(self) -> dict[str, Any]:
        trainer = self._trainer() if hasattr(self, "_trainer") else None
        metrics = trainer.callback_metrics if trainer is not None else {}
        if self.monitor is not None and self.monitor in metrics:
            self._last_monitored = float(metrics[self.monitor])
        return {**super().state_dict(), "last_monitored": self._last_monitored}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._last_monitored = state_dict.get("last_monitored")

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if trainer.logger is not None:
            checkpoint[LOGGER_VERSION_KEY] = trainer.logger.version

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any) -> None:
        super().on_train_batch_end(trainer, pl_module, *args, **kwargs)
        # at the batch that ends the run, as Lightning's own saves are: resuming from it continues exactly
        final = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        if self.save_last and final and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:  # ended by epochs or a stop
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def logger_version(checkpoint: str | Path) -> Any:
    """The logger version a checkpoint recorded (None when it has none, or cannot be read)."""
    try:
        return torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True).get(LOGGER_VERSION_KEY)
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is reported where it is loaded, not here
        return None
