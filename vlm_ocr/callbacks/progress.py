"""StepProgressBar: one training bar over the optimizer steps of the whole run, with elapsed time and ETA."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

LOGGERS = ("vlm_ocr", "lightning.pytorch", "lightning.fabric")
"""Loggers whose lines go through the bar's `write` during training, each on its own line."""


class StepProgressBar(TQDMProgressBar):
    """Lightning's TQDM bar, except that training shows one bar over the run's optimizer steps (max_steps, or the
    estimate from max_epochs) that neither restarts at each epoch nor counts accumulated batches, and log lines
    printed meanwhile land on their own lines above it.

    Args:
        refresh_rate: optimizer steps between redraws.
        process_position: as Lightning's (several bars in one terminal).
        leave: as Lightning's.
    """

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False):
        super().__init__(refresh_rate, process_position, leave)
        self._redirect = ExitStack()

    def init_train_tqdm(self) -> Tqdm:
        total = self.trainer.estimated_stepping_batches
        return Tqdm(
            desc=self.train_description,
            total=None if total == float("inf") else int(total),
            initial=self.trainer.global_step,  # a resumed run continues where it stopped
            unit="step",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar = self.init_train_tqdm()
        if self.is_enabled:
            loggers = [logging.getLogger(name) for name in LOGGERS]  # those without a handler propagate
            self._redirect.enter_context(logging_redirect_tqdm([log for log in loggers if log.handlers]))

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        self.train_progress_bar.set_description(f"Training (epoch {trainer.current_epoch})")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        step = trainer.global_step
        if bar is None or bar.n == step or not self.is_enabled:
            return
        if step % self.refresh_rate == 0 or step == bar.total:
            bar.n = step
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # also redraws

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_train_end(self, *_: Any) -> None:
        self.train_progress_bar.close()
        self._redirect.close()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._redirect.close()
