"""Epoch-aware sampling: yields (epoch, index) so shuffles and augmentation depend on the data seed only."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[tuple[int, int]]):
    """Shuffles with a generator seeded by (seed, epoch); Lightning calls set_epoch before each epoch.

    Args:
        size: number of items.
        seed: the data seed (301 in the recipe).
        shuffle: shuffle each epoch, else in index order.
    """

    def __init__(self, size: int, seed: int = 0, shuffle: bool = True):
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = range(self.size)
        return iter([(self.epoch, i) for i in order])
