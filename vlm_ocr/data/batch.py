"""The batch the collators make and the module and callbacks read, declared key by key."""

from __future__ import annotations

from typing import Any, TypedDict

import torch


class PageCounts(TypedDict):
    """The keys every batch has, even one whose samples were all dropped."""

    dropped: list[dict[str, Any]]
    """Records of the samples a pipeline step dropped: markdown_path, step, reason (predict: source, page)."""
    truncated: int
    """Samples cut at max_length (kept)."""
    markdown_paths: list[str | None]
    num_pages: int
    """Samples in the batch (dropped ones not counted)."""


class PageBatch(PageCounts, total=False):
    """One batch of pages (Collator: padded rows; PackCollator: one packed row). Without `input_ids` every sample
    of the batch was dropped (`num_pages` 0)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    """Padded batches only: a packed row derives per-page attention from `page_lengths`."""
    labels: torch.Tensor
    mm_token_type_ids: torch.Tensor
    """Only for the model families whose forward takes them (vlm_ocr.model.families)."""
    pixel_values: torch.Tensor
    """Per patch, every page's patches concatenated."""
    image_grid_thw: torch.Tensor
    page_index: torch.Tensor
    """Packed rows: each token's page, for per-page loss weighting."""
    page_lengths: list[list[int]]
    """Packed rows: the tokens of each page, per row."""
    datasets: list[str | None]
    """Each page's dataset (packed rows; predict items of eval sets)."""
    sources: list[str | None]
    """Predict: each page's PDF."""
    pages: list[int | None]
    """Predict: each page's number (1-based)."""
    references: list[str | None]
    """Predict on an eval set: each page's reference text."""
