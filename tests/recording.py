"""A test callback that writes what each rank trained on (one JSON line per batch) and the final weights."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import torch


class Recorder(L.Callback):
    """Writes <out>/rank<r>.jsonl (step, epoch, pages, lr per batch) and, on rank 0, <out>/weights.pt at the end
    (with several processes also each rank's own tensors, <out>/weights_rank<r>.pt).

    Args:
        out: output folder.
        delay: seconds to sleep after each batch (gives a test time to send a signal mid-run).
    """

    def __init__(self, out: str, delay: float = 0.0):
        self.out = Path(out)
        self.delay = delay

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        time.sleep(self.delay)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.out.mkdir(parents=True, exist_ok=True)
        row = {
            "step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "batch_idx": batch_idx,
            "pages": [Path(p).name for p in batch["markdown_paths"]]
            if "markdown_paths" in batch
            else [page.key for page in batch["pages"]],  # a GRPO batch: bench pages
            "datasets": batch.get("datasets", []),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
        }
        with open(self.out / f"rank{trainer.global_rank}.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")

    def on_train_end(self, trainer, pl_module):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        if trainer.world_size > 1:  # this rank's own tensors (DDP: its replica; FSDP: its shards)
            own = {k: getattr(v, "_local_tensor", v).detach().clone() for k, v in pl_module.model.state_dict().items()}
            torch.save(own, self.out / f"weights_rank{trainer.global_rank}.pt")
        state = get_model_state_dict(pl_module.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if trainer.is_global_zero:
            torch.save({k: v.detach().clone() for k, v in state.items()}, self.out / "weights.pt")


def read_rows(out: Path, rank: int = 0) -> list[dict]:
    path = Path(out) / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
