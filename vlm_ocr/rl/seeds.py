"""Sampling seeds that follow from where a run is, not from RNG state: a resumed run samples what the uninterrupted
one would have."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def sampling_seed(seed: int, step: int, pages: Sequence[str], stage: str = "train") -> int:
    """A 63-bit seed from (seed, optimizer step, the batch's page keys). Not from the rank: a page's group is
    sampled alike whichever rank rolls it out, so N processes sample what one process with N times the accumulation
    samples (and a step never holds one page twice: its batches come from one epoch's shuffle)."""
    key = "\n".join([stage, str(seed), str(step), *pages]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1
