"""Stochastic rounding of float32 to bfloat16 whose random bits are a hash of (seed, element index).

Counter-based, not drawn from a generator: the same (seed, index) always gives the same bits, on any device, in
eager or compiled code, so a run resumed from a checkpoint rounds exactly as the uninterrupted one did, with no
generator state to save, and every DDP replica rounds its copy of a weight the same way.
"""

from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
MULTIPLIER = 0x045D9F3B  # a well-mixing odd 32-bit hash multiplier below 2**31: every product fits in int64


def stream_seed(*words: int) -> int:
    """A 32-bit seed mixed from integers (splitmix64 over each word): one stream per (seed, tensor, step, use)."""
    state = 0
    for word in words:
        state = (state ^ (word & MASK64)) + 0x9E3779B97F4A7C15 & MASK64
        state = (state ^ (state >> 30)) * 0xBF58476D1CE4E5B9 & MASK64
        state = (state ^ (state >> 27)) * 0x94D049BB133111EB & MASK64
        state ^= state >> 31
    return state & MASK32


def hash32(index: torch.Tensor, seed: torch.Tensor | int) -> torch.Tensor:
    """32 uniform random bits (int64 in [0, 2**32)) per element of an int64 index below 2**32."""
    x = (index ^ seed) & MASK32
    for _ in range(2):  # int64 arithmetic kept below 2**63: x < 2**32 and MULTIPLIER < 2**31
        x = x ^ (x >> 16)
        x = (x * MULTIPLIER) & MASK32
    return x ^ (x >> 16)


def round_with_bits(value: torch.Tensor, bits16: torch.Tensor) -> torch.Tensor:
    """bf16 of a float32 tensor, rounded up in magnitude with probability equal to the dropped fraction, given 16
    random bits per element (int64 in [0, 65536)): unbiased, so averages of many small steps survive where
    round-to-nearest drops every step below half a bf16 spacing."""
    bits = value.contiguous().view(torch.int32)
    # adding 16 random bits below bf16's last mantissa bit, then truncating, rounds away from zero with probability
    # (dropped bits) / 2**16; the sign bit is untouched (sign-magnitude), so negative values round symmetrically
    rounded = (bits + bits16.to(torch.int32)) & -65536
    return rounded.view(torch.float32).to(torch.bfloat16)


def round_to_bf16_stochastically(value: torch.Tensor, index: torch.Tensor, seed: torch.Tensor | int) -> torch.Tensor:
    """round_with_bits with the low 16 bits of the hash of (seed, index)."""
    return round_with_bits(value, hash32(index, seed) & 0xFFFF)
