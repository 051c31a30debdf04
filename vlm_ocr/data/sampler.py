"""Epoch-aware sampling and rank-aware, resumable batching: what every process trains on follows from
(data seed, epoch, rank, world size), and the position inside the epoch is saved in checkpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from vlm_ocr.data.mixing import WeightedMix


class EpochSampler(Sampler[tuple[int, int]]):
    """Shuffles with a generator seeded by (seed, epoch); Lightning calls set_epoch before each epoch.

    Args:
        size: number of items.
        seed: the data seed (301 in the recipe).
        shuffle: shuffle each epoch, else in index order.
        mix: per-dataset sampling weights; the epoch is then the mix's multiset of indices (shuffled).
    """

    def __init__(self, size: int, seed: int = 0, shuffle: bool = True, mix: WeightedMix | None = None):
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        self.mix = mix
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.mix) if self.mix is not None else self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.mix is not None:
            order = self.mix.order(self.epoch)
        elif self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = range(self.size)
        return iter([(self.epoch, i) for i in order])


def set_epoch(sampler: Any, epoch: int) -> None:
    """Forward an epoch to a batch sampler, or to the item sampler inside a torch BatchSampler."""
    target = sampler if hasattr(sampler, "set_epoch") else getattr(sampler, "sampler", None)
    if target is not None and hasattr(target, "set_epoch"):
        target.set_epoch(epoch)


class ShardedBatches(Sampler[list[Any]]):
    """The epoch's batches (fixed-size or packed) dealt round-robin to the data-parallel ranks, resumable mid-epoch.

    Every rank plans the same global list of batches from (seed, epoch) and takes every world_size-th one, so
    ranks never share a page and, packed or not, all run the same number of steps (the list is padded by
    repeating its first batches). Resuming skips batches by index: nothing already trained on is loaded again.

    Args:
        batches: the global batch sampler over an EpochSampler (torch's BatchSampler or PackingBatchSampler);
            its `.sampler` is where Lightning sets the epoch.
        rank: this process's data-parallel rank.
        world_size: number of data-parallel ranks.
        pad: repeat batches so every rank gets as many (needed whenever the ranks run collectives in step).
    """

    def __init__(self, batches: Iterable[list[Any]], rank: int = 0, world_size: int = 1, pad: bool = True):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.batches = batches
        self.rank = rank
        self.world_size = world_size
        self.pad = pad
        self.started: tuple[int, int, str] | None = None  # (epoch, first batch, plan) of the running iteration
        self._skip: tuple[int, int] | None = None
        self._plans: dict[int, tuple[list[list[Any]], str]] = {}

    @property
    def sampler(self) -> Any:
        """The item sampler: Lightning calls `set_epoch` on `dataloader.batch_sampler.sampler`."""
        return self.batches.sampler

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        set_epoch(self.batches, epoch)

    def _plan(self) -> tuple[list[list[Any]], str]:
        """This rank's batches of the current epoch and a fingerprint of the global plan (cached per epoch)."""
        if self.epoch not in self._plans:
            everything = [list(batch) for batch in self.batches]
            if self.pad and everything:
                everything += everything[: (-len(everything)) % self.world_size]
            digest = hashlib.sha1(repr((self.world_size, everything)).encode()).hexdigest()[:16]
            self._plans = {self.epoch: (everything[self.rank :: self.world_size], digest)}
        return self._plans[self.epoch]

    def fingerprint(self) -> str:
        return self._plan()[1]

    def __len__(self) -> int:
        return len(self._plan()[0])

    def __iter__(self) -> Iterator[list[Any]]:
        mine, digest = self._plan()
        # Kept for the whole epoch: torch's worker iterator calls iter() twice when it starts.
        start = self._skip[1] if self._skip and self._skip[0] == self.epoch else 0
        self.started = (self.epoch, start, digest)
        return iter(mine[start:])

    def resume(self, epoch: int, batches: int, world_size: int, fingerprint: str) -> None:
        """Continue after `batches` batches of `epoch` (what a checkpoint recorded); a finished epoch moves on."""
        self.set_epoch(epoch)
        if batches >= len(self):
            self.set_epoch(epoch + 1)
            return
        if batches == 0:
            return
        if world_size != self.world_size:
            raise ValueError(
                f"the checkpoint stopped {batches} batches into epoch {epoch} with {world_size} data-parallel "
                f"processes, this run has {self.world_size}: the rest of that epoch cannot be dealt out the same "
                "way. Resume with the same number of processes, or from a checkpoint at the end of an epoch."
            )
        if fingerprint != self.fingerprint():
            raise ValueError(
                f"the training data plan of epoch {epoch} differs from the checkpoint's (data roots, "
                "train_weights, batch size, packing or data_seed changed): resuming mid-epoch would replay or skip "
                "pages. Resume with the checkpoint's data settings, or from a checkpoint at the end of an epoch."
            )
        self._skip = (epoch, batches)


class ResumableDataLoader(DataLoader):
    """A DataLoader over ShardedBatches whose position in the epoch goes into Lightning's checkpoints.

    Lightning saves `state_dict()` of stateful train loaders and calls `load_state_dict()` on resume, before the
    first batch is fetched; the position counts batches handed to the training loop, so batches that worker
    processes had prefetched but the model never saw are trained on after the resume.
    """

    def __init__(self, dataset: Any, batch_sampler: ShardedBatches, **kwargs: Any):
        super().__init__(dataset, batch_sampler=batch_sampler, **kwargs)
        self._yielded = 0

    def __iter__(self) -> Iterator[Any]:
        self._yielded = 0
        self.batch_sampler.started = None  # set again when the batch sampler starts this epoch's iteration
        iterator = super().__iter__()
        for batch in iterator:
            self._yielded += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        sharded: ShardedBatches = self.batch_sampler
        if sharded.started is None:  # nothing handed out yet in this epoch
            return {"epoch": sharded.epoch, "batches": 0, "world_size": sharded.world_size, "plan": ""}
        epoch, start, digest = sharded.started
        return {"epoch": epoch, "batches": start + self._yielded, "world_size": sharded.world_size, "plan": digest}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batch_sampler.resume(state["epoch"], state["batches"], state["world_size"], state["plan"])
        self._yielded = 0
