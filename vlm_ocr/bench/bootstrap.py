"""Stratified bootstrap confidence interval for a mean of per-group means (spec §6.6)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_bootstrap_ci(
    groups: Sequence[Sequence[float]],
    n_samples: int = 1000,
    level: float = 0.95,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Resample each group with replacement at its own size, average group means; return the percentile CI.

    Empty groups are ignored; with no scores at all the interval is (0, 0). `seed=None` draws fresh entropy
    (upstream never seeds, so its interval varies from run to run).
    """
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not arrays or n_samples <= 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    stats = np.zeros(n_samples)
    for values in arrays:
        picks = rng.integers(0, len(values), size=(n_samples, len(values)))
        stats += values[picks].mean(axis=1)
    stats /= len(arrays)
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(stats, [alpha * 100, (1.0 - alpha) * 100])
    return float(low), float(high)
