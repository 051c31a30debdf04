"""Packed-attention cases the CPU and CUDA attention tests share."""

import torch


class GroupedAttention(torch.nn.Module):
    """Stands in for a decoder attention layer: the attributes transformers' sdpa reads."""

    is_causal = True
    num_key_value_groups = 2


def packed_positions(rows: list[list[int]]) -> torch.Tensor:
    return torch.stack([torch.cat([torch.arange(n) for n in pages]) for pages in rows])


def block_causal_mask(position_ids: torch.Tensor) -> torch.Tensor:
    """(rows, 1, L, L) boolean mask: same page and not in the future, built independently of page_segments."""
    page = (position_ids == 0).cumsum(-1)
    length = position_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    return ((page[:, :, None] == page[:, None, :]) & causal)[:, None]
