"""Sampling seeds that follow from where a run is, not from RNG state: a resumed run samples what the uninterrupted
one would have."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def sampling_seed(seed: int, step: int, rank: int, pages: Sequence[str], stage: str = "train") -> int:
    """A 63-bit seed from (seed, optimizer step, rank, the pages' keys): every rollout of a run gets its own."""
    key = "\n".join([stage, str(seed), str(step), str(rank), *pages]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1
