"""Per-dataset sampling weights: each epoch's multiset of page indices, drawn from (data seed, epoch) alone."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def mix_seed(seed: int, epoch: int, part: int) -> int:
    """One generator seed per (data seed, epoch, dataset); part -1 is the epoch's final shuffle."""
    return ((seed * 1_000_003 + epoch) * 1_009 + part + 1) % (2**63)


class WeightedMix:
    """Up- or down-samples each training dataset by a weight, the same way in every process and after a resume.

    A dataset of n pages with weight w gives round(w * n) pages per epoch: each page floor(w) times, plus a
    fresh random subset of the pages for the fractional part (weight 0 leaves the dataset out). The epoch's
    pages are then shuffled. Everything is drawn from (seed, epoch), so the order of any epoch can be rebuilt
    from the checkpoint's epoch number without looking at a single page.

    Args:
        sizes: pages per dataset, in the order the datasets are concatenated.
        weights: sampling weight per dataset, in the same order.
        seed: the data seed.
    """

    def __init__(self, sizes: Sequence[int], weights: Sequence[float], seed: int = 0):
        if len(sizes) != len(weights):
            raise ValueError(f"{len(sizes)} datasets but {len(weights)} weights")
        bad = [w for w in weights if not (math.isfinite(w) and w >= 0)]
        if bad:
            raise ValueError(f"sampling weights must be finite and >= 0, got {bad}")
        self.sizes = list(sizes)
        self.weights = list(weights)
        self.seed = seed
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.counts = [round(w * n) for w, n in zip(self.weights, self.sizes, strict=True)]
        if sum(self.counts) == 0:
            raise ValueError(f"the sampling weights {self.weights} leave no page to train on")

    def __len__(self) -> int:
        return sum(self.counts)

    def order(self, epoch: int) -> list[int]:
        """The global dataset indices of one epoch, shuffled."""
        picks = []
        for part, (offset, size, count) in enumerate(zip(self.offsets, self.sizes, self.counts, strict=True)):
            if count == 0:
                continue
            generator = torch.Generator().manual_seed(mix_seed(self.seed, epoch, part))
            copies = [torch.randperm(size, generator=generator) for _ in range(-(-count // size))]
            picks.append(torch.cat(copies)[:count] + offset)
        everything = torch.cat(picks)
        generator = torch.Generator().manual_seed(mix_seed(self.seed, epoch, -1))
        return everything[torch.randperm(len(everything), generator=generator)].tolist()


def dataset_weights(names: Sequence[str], weights: dict[str, float]) -> list[float]:
    """Weights in dataset order from a name -> weight mapping (unlisted datasets keep weight 1)."""
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ValueError(f"data.train_weights names unknown datasets {unknown}; the train roots are {list(names)}")
    return [float(weights.get(name, 1.0)) for name in names]


def describe_mix(names: Sequence[str], mix: WeightedMix) -> str:
    """One log line: pages per epoch from each dataset."""
    parts = [
        f"{name}: {count} of {size} pages (x{weight:g})"
        for name, size, weight, count in zip(names, mix.sizes, mix.weights, mix.counts, strict=True)
    ]
    return f"training mix, {len(mix)} pages per epoch: " + ", ".join(parts)
