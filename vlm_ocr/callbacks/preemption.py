"""Preemption: on SIGTERM or SIGUSR1, checkpoint at the next optimizer step and exit cleanly (requeue on SLURM); in
predict, stop after the batch being written."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

logger = logging.getLogger(__name__)


class Preempted(SystemExit):
    """Raised after the preemption checkpoint is written; the process exits with the configured status."""


class Preemption(L.Callback):
    """Turns a stop signal into a checkpoint plus a clean exit, at an optimizer-step boundary.

    The handler only records the signal. At the end of the next batch that completes an optimizer step
    (so no accumulated gradient is lost), all ranks agree that a signal arrived on any of them, save
    `<dirpath>/<filename>` through the trainer (atomic with AtomicCheckpointIO, sharded with FSDP2) and
    exit. `fit --ckpt_path last` then continues exactly where this run stopped. Lightning's own SIGTERM and
    SLURM SIGUSR1 handlers are replaced while training runs, because they stop mid-accumulation or save
    from inside the signal handler.

    In predict (whose loop, unlike fit's and validate's, never looks at Lightning's SIGTERM flag) a signal stops the
    run before the next batch starts: every batch begun is generated and written (the prediction writer writes at
    the end of each batch), and the process exits with 128 + the signal's number, as a process the signal ended.

    Args:
        signals: names of the signals that mean "checkpoint and stop".
        dirpath: checkpoint folder; default: the ModelCheckpoint's folder, so `--ckpt_path last` finds it.
        filename: checkpoint name; `last.ckpt` is what `--ckpt_path last` looks for.
        requeue_signals: on SLURM, signals after which rank 0 runs `scontrol requeue` (SIGUSR1 comes from
            `#SBATCH --signal=USR1@<seconds>` before the time limit; on preemption SLURM requeues by itself).
        exit_code: the process's exit status after the checkpoint.
    """

    def __init__(
        self,
        signals: list[str] | None = None,
        dirpath: str | None = None,
        filename: str = "last.ckpt",
        requeue_signals: list[str] | None = None,
        exit_code: int = 0,
    ):
        self.signals = [signal.Signals[name] for name in (signals or ["SIGTERM", "SIGUSR1"])]
        self.dirpath = dirpath
        self.filename = filename
        self.requeue_signals = {signal.Signals[name] for name in (requeue_signals or ["SIGUSR1"])}
        self.exit_code = exit_code
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}
        self.saved_path: Path | None = None
        self._predicted = 0  # predict batches started before a signal

    def _record(self, signum: int, frame: Any) -> None:
        self.received = signal.Signals(signum)  # nothing else here: the training loop acts on it

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._install()

    def _install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.received = None
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._record)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._install()
        self._predicted = 0

    def on_predict_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            self._predicted += 1
            return
        name = self.received.name if self.received is not None else "a stop signal on another rank"
        rank_zero_info(f"{name} received: predict stops after {self._predicted} batches, all of them written")
        raise Preempted(128 + (self.received or signal.SIGTERM))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()

    def checkpoint_path(self, trainer: L.Trainer) -> Path:
        folder = self.dirpath or getattr(trainer.checkpoint_callback, "dirpath", None)
        return Path(folder or Path(trainer.default_root_dir) / "checkpoints") / self.filename

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        last = trainer.fit_loop.epoch_loop.batch_progress.is_last_batch
        stepped = (batch_idx + 1) % trainer.accumulate_grad_batches == 0 or last
        if not stepped or not trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            return
        name = self.received.name if self.received is not None else "a stop signal on another rank"
        path = self.checkpoint_path(trainer)
        rank_zero_info(f"{name} received: saving {path} at step {trainer.global_step}, then exiting")
        trainer.save_checkpoint(path)
        self.saved_path = path
        if trainer.is_global_zero and self.received in self.requeue_signals:
            self._requeue()
        raise Preempted(self.exit_code)

    def _requeue(self) -> None:
        job = os.environ.get("SLURM_JOB_ID")
        if os.environ.get("SLURM_ARRAY_JOB_ID"):
            job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
        if not job:
            return
        result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            logger.info("requeued SLURM job %s", job)
        else:
            logger.error("scontrol requeue %s failed (%d): %s", job, result.returncode, result.stderr.strip())
