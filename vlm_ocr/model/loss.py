"""Cross-entropy on answer tokens only, never materialising (tokens x vocabulary) logits.

Prompt and image positions never reach lm_head. Answer positions go through it in chunks, each under
activation checkpointing, so at most one chunk's (chunk_size x vocabulary) float32 logits exist at a time,
in forward and in backward (the chunk's logits are recomputed there, a 2 x hidden x vocabulary FLOP cost
per token).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from vlm_ocr.data.processor import IGNORE_INDEX


def _chunk_cross_entropy(
    lm_head: torch.nn.Module, states: torch.Tensor, targets: torch.Tensor, temperature: float
) -> torch.Tensor:
    logits = lm_head(states).float()
    if temperature != 1.0:
        logits = logits / temperature
    return F.cross_entropy(logits, targets, reduction="none")


def chunked_cross_entropy(
    lm_head: torch.nn.Module, states: torch.Tensor, targets: torch.Tensor, chunk_size: int, temperature: float = 1.0
) -> torch.Tensor:
    """(N,) cross-entropy of each of (N, H) states against its target, lm_head applied in checkpointed chunks of
    `chunk_size` states to float32 logits divided by `temperature`."""
    return torch.cat(
        [
            checkpoint(
                _chunk_cross_entropy,
                lm_head,
                states[i : i + chunk_size],
                targets[i : i + chunk_size],
                temperature,
                use_reentrant=False,
            )
            for i in range(0, len(states), chunk_size)
        ]
    )


def answer_token_loss_terms(
    hidden: torch.Tensor,
    lm_head: torch.nn.Module,
    labels: torch.Tensor,
    weighting: Literal["page", "token"] = "page",
    chunk_size: int = 2048,
    page_index: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int, torch.Tensor]:
    """Teacher-forced next-token loss over positions whose next label is not IGNORE_INDEX.

    Args:
        hidden: (B, L, H) last hidden states.
        lm_head: the output projection.
        labels: (B, L) target ids, IGNORE_INDEX where no loss applies.
        weighting: `page` averages each page's token losses, then the pages (olmOCR: one page per
            step); `token` averages over every answer token in the batch.
        chunk_size: tokens per lm_head chunk.
        page_index: (B, L) page of each token for packed rows (several pages per row); default: one page per row.

    Returns:
        The loss, the number of answer tokens it covers, and each page's mean token loss (detached; NaN for a
        page without answer tokens).
    """
    shifted = labels[:, 1:]
    rows, cols = (shifted != IGNORE_INDEX).nonzero(as_tuple=True)
    if rows.numel() == 0:
        return hidden.sum() * 0.0, 0, torch.empty(0)
    states = hidden[rows, cols]  # (N, H): the state at t predicts the label at t + 1
    targets = shifted[rows, cols]
    losses = chunked_cross_entropy(lm_head, states, targets, chunk_size)
    pages = rows if page_index is None else page_index[:, 1:][rows, cols]
    num_pages = int(pages.max()) + 1
    per_page = torch.zeros(num_pages, device=losses.device, dtype=losses.dtype).index_add_(0, pages, losses)
    counts = torch.bincount(pages, minlength=num_pages)
    present = counts > 0
    page_means = per_page / counts.clamp_min(1)
    detached = torch.where(present, page_means, torch.full_like(page_means, float("nan"))).detach()
    if weighting == "token":
        return losses.mean(), len(losses), detached
    return page_means[present].mean(), len(losses), detached
