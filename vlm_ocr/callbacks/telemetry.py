"""Training telemetry: throughput, MFU (vision forward counted), peak memory and the share of time spent waiting for
data; the one clock of a training run.

Not Lightning's ThroughputMonitor: it counts one length per sample (no image/text split), has no data-wait share or
peak memory, logs outside `self.log` only once a 100-batch window is full, and takes its peak from
get_available_flops (see vlm_ocr.model.flops)."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch

from vlm_ocr.data.batch import PageBatch
from vlm_ocr.model.batch_tokens import count_tokens, spatial_merge_size
from vlm_ocr.model.flops import peak_flops_for, step_flops


class Telemetry(L.Callback):
    """Logs, every `log_every_n_steps` batches and over the batches since the last log: `train/pages_per_s`,
    `train/tokens_per_s`, `train/image_tokens_per_s`, `train/text_tokens_per_s` (all ranks: this rank's rate times
    the world size), `train/mfu` (this device), `train/peak_memory_gb` (CUDA) and `train/data_wait_share`.

    Args:
        peak_flops: peak FLOP/s of one device for MFU; None looks the device up (H100/H200/B200/A100/L40S
            bf16), and MFU is not logged on devices it does not know (such as CPUs).
        log_every_n_steps: batches between logs.
    """

    def __init__(self, peak_flops: float | None = None, log_every_n_steps: int = 10):
        self.peak_flops = peak_flops
        self.log_every_n_steps = log_every_n_steps
        self._batch_end: float | None = None
        self._batch_start = 0.0
        self._wait = self._busy = self._flops = 0.0
        self._pages = self._tokens = self._image_tokens = 0
        self._batches = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.peak_flops is None and pl_module.device.type == "cuda":
            self.peak_flops = peak_flops_for(torch.cuda.get_device_name(pl_module.device))
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int):
        self._batch_start = time.perf_counter()
        if self._batch_end is not None:
            self._wait += self._batch_start - self._batch_end  # the loader's time between two batches

    def on_train_batch_end(self, trainer, pl_module, outputs, batch: PageBatch, batch_idx: int) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self._batch_end = time.perf_counter()
        self._busy += self._batch_end - self._batch_start
        if batch.get("num_pages"):
            self._pages += batch["num_pages"]
        if batch.get("num_pages") and "input_ids" in batch:  # GRPO's batches are prompts: it logs its own rates
            tokens = count_tokens(batch, spatial_merge_size(pl_module.model))
            self._flops += step_flops(pl_module.model, tokens.page_lengths, tokens.patches, tokens.answer_tokens)
            self._tokens += tokens.total
            self._image_tokens += tokens.image_tokens
        self._batches += 1
        if self._batches >= self.log_every_n_steps:
            self._log(trainer, pl_module)

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        elapsed = self._wait + self._busy
        metrics = {"train/data_wait_share": self._wait / elapsed if elapsed else 0.0}
        if elapsed:
            rate = trainer.world_size / elapsed
            metrics.update(
                {
                    "train/pages_per_s": self._pages * rate,
                    "train/tokens_per_s": self._tokens * rate,
                    "train/image_tokens_per_s": self._image_tokens * rate,
                    "train/text_tokens_per_s": (self._tokens - self._image_tokens) * rate,
                }
            )
        if self.peak_flops and elapsed:
            metrics["train/mfu"] = self._flops / elapsed / self.peak_flops
        if pl_module.device.type == "cuda":
            metrics["train/peak_memory_gb"] = torch.cuda.max_memory_allocated(pl_module.device) / 2**30
        pl_module.log_dict(metrics, on_step=True)
        self._wait = self._busy = self._flops = 0.0
        self._pages = self._tokens = self._image_tokens = 0
        self._batches = 0
