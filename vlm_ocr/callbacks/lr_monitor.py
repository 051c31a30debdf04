"""StepLearningRateMonitor: the learning rate once per optimizer step, also with gradient accumulation."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor


class StepLearningRateMonitor(LearningRateMonitor):
    """Lightning's LearningRateMonitor logs at every batch that may log, so with accumulation it writes each
    optimizer step's rate several times (230 rows for 120 steps); this one writes it once per step.

    Args:
        logging_interval: as Lightning's (`step`, `epoch` or None).
        log_momentum: as Lightning's.
        log_weight_decay: as Lightning's.
    """

    def __init__(
        self, logging_interval: str | None = "step", log_momentum: bool = False, log_weight_decay: bool = False
    ):
        super().__init__(logging_interval, log_momentum, log_weight_decay)
        self._logged_step: int | None = None

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        step = trainer.fit_loop.epoch_loop._batches_that_stepped  # the step Lightning logs this row under
        if step == self._logged_step:
            return
        if trainer._logger_connector.should_update_logs:
            self._logged_step = step
        super().on_train_batch_start(trainer, *args, **kwargs)
