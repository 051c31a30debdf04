"""Attention on a packed row: sdpa_varlen (causal SDPA page by page) against sdpa with the dense block-causal mask
that transformers builds for packed rows, side by side in one process, forward and backward.

    python benchmarks/attention_throughput.py                      # CPU: 4096-token row, 8 heads
    python benchmarks/attention_throughput.py --device cuda --length 8192 --heads 28 --kv-heads 4 --dtype bfloat16

Prints milliseconds per call of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from vlm_ocr.model.attention import sdpa_varlen_attention


class DecoderAttention(torch.nn.Module):
    """The attributes transformers' sdpa reads from a decoder attention layer."""

    is_causal = True

    def __init__(self, groups: int):
        super().__init__()
        self.num_key_value_groups = groups


def page_lengths(length: int, pages: int) -> list[int]:
    """Unequal pages filling the row, like a real pack (the last one takes the rest)."""
    weights = [1.0 + 0.5 * (i % 3) for i in range(pages)]
    sizes = [int(length * w / sum(weights)) for w in weights]
    sizes[-1] += length - sum(sizes)
    return sizes


def timed(step, device: str, repeats: int) -> float:
    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    lengths = page_lengths(args.length, args.pages)
    positions = torch.cat([torch.arange(n) for n in lengths])[None].to(args.device)
    page = (positions == 0).cumsum(-1)
    causal = torch.ones(args.length, args.length, dtype=torch.bool, device=args.device).tril()
    mask = ((page[:, :, None] == page[:, None, :]) & causal)[:, None]

    def tensor(heads: int) -> torch.Tensor:
        shape = (1, heads, args.length, args.head_dim)
        return torch.randn(shape, device=args.device, dtype=dtype, requires_grad=True)

    query, key, value = tensor(args.heads), tensor(args.kv_heads), tensor(args.kv_heads)
    module = DecoderAttention(args.heads // args.kv_heads)

    def varlen() -> None:
        out, _ = sdpa_varlen_attention(module, query, key, value, mask, position_ids=positions)
        out.sum().backward()

    def dense() -> None:
        out, _ = sdpa_attention_forward(module, query, key, value, mask, is_causal=False)
        out.sum().backward()

    varlen_ms, dense_ms = timed(varlen, args.device, args.repeats), timed(dense, args.device, args.repeats)
    useful = sum(n * n for n in lengths) / 2 / (args.length * args.length)
    report = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "dtype": args.dtype,
        "length": args.length,
        "pages": lengths,
        "heads": [args.heads, args.kv_heads, args.head_dim],
        "sdpa_varlen_ms": round(varlen_ms, 2),
        "sdpa_dense_mask_ms": round(dense_ms, 2),
        "speedup": round(dense_ms / varlen_ms, 2),
        "useful_share_of_dense_work": round(useful, 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
