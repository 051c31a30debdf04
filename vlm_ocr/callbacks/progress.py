"""StepProgressBar: one training bar over the optimizer steps of the whole run, with elapsed time and ETA; in a log
that is not a terminal, one line every N steps instead."""

from __future__ import annotations

import datetime
import logging
import sys
import time
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
    estimate from max_epochs) that neither restarts at each epoch nor counts accumulated batches, log lines
    printed meanwhile land on their own lines above it, and validations during fit draw no bar of their own (a
    second bar interleaves with the step bar). When stdout is not a terminal (a cluster log, `make demo > log`), no
    bar is drawn: training prints a line every `line_every_n_steps` steps (step, elapsed, ETA, metrics).

    Args:
        refresh_rate: optimizer steps between redraws.
        process_position: as Lightning's (several bars in one terminal).
        leave: as Lightning's.
        line_every_n_steps: optimizer steps between two lines when stdout is not a terminal.
    """

    def __init__(
        self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False, line_every_n_steps: int = 10
    ):
        super().__init__(refresh_rate, process_position, leave)
        self.line_every_n_steps = line_every_n_steps
        self._redirect = ExitStack()
        self._started = 0.0
        self._first_step = 0

    @property
    def draws_bars(self) -> bool:
        """Whether bars are drawn: enabled, and stdout a terminal (else lines replace the training bar)."""
        return self.is_enabled and sys.stdout.isatty()

    def init_validation_tqdm(self) -> Tqdm:
        if self.trainer.state.fn == "fit" or not self.draws_bars:
            return Tqdm(disable=True)  # created disabled: a bar made and then disabled has drawn already
        return super().init_validation_tqdm()

    def init_predict_tqdm(self) -> Tqdm:
        return super().init_predict_tqdm() if self.draws_bars else Tqdm(disable=True)

    def init_test_tqdm(self) -> Tqdm:
        return super().init_test_tqdm() if self.draws_bars else Tqdm(disable=True)

    def init_train_tqdm(self) -> Tqdm:
        total = self.trainer.estimated_stepping_batches
        return Tqdm(
            desc=self.train_description,
            total=None if total == float("inf") else int(total),
            initial=self.trainer.global_step,  # a resumed run continues where it stopped
            unit="step",
            position=2 * self.process_position,
            disable=not self.draws_bars,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar = self.init_train_tqdm()
        self._started, self._first_step = time.monotonic(), trainer.global_step
        if self.draws_bars:
            loggers = [logging.getLogger(name) for name in LOGGERS]  # those without a handler propagate
            self._redirect.enter_context(logging_redirect_tqdm([log for log in loggers if log.handlers]))

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        self.train_progress_bar.set_description(f"Training (epoch {trainer.current_epoch})")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        step = trainer.global_step
        if bar is None or bar.n == step or not self.is_enabled:
            return
        if not self.draws_bars:
            if step % self.line_every_n_steps == 0 or step == bar.total:
                bar.n = step
                print(self.progress_line(trainer, pl_module, step, bar.total), flush=True)
            return
        if step % self.refresh_rate == 0 or step == bar.total:
            bar.n = step
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # also redraws

    def progress_line(self, trainer: L.Trainer, pl_module: L.LightningModule, step: int, total: int | None) -> str:
        """`Training: step 30/120 (25%), 0:00:42 elapsed, ETA 0:02:06, train/loss=4.62`."""
        elapsed = time.monotonic() - self._started
        done = step - self._first_step
        parts = [f"step {step}/{total} ({step / total:.0%})" if total else f"step {step}"]
        parts.append(f"{datetime.timedelta(seconds=round(elapsed))} elapsed")
        if total and done > 0:
            parts.append(f"ETA {datetime.timedelta(seconds=round(elapsed / done * (total - step)))}")
        metrics = self.get_metrics(trainer, pl_module)
        parts += [f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items() if k != "v_num"]
        return "Training: " + ", ".join(parts)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_train_end(self, *_: Any) -> None:
        self.train_progress_bar.close()
        self._redirect.close()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._redirect.close()
