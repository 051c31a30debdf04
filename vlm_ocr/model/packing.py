"""Position ids for packed rows: each page gets the multimodal rope positions it would have alone."""

from __future__ import annotations

from typing import Any

import torch

from vlm_ocr.data.batch import PageBatch
from vlm_ocr.errors import UsageError
from vlm_ocr.model.families import family_of_model


def packed_position_ids(language_model: Any, batch: PageBatch) -> torch.Tensor:
    """(4, rows, length) position ids: row 0 holds per-page text positions (restarting at 0 on every page,
    which makes transformers build per-page causal attention, or varlen with flash-attention), rows 1-3
    the page's own 3D rope positions from the model's get_rope_index. Padding forms its own segment.

    Every family's decoder reads this layout (a 4-row position tensor: text row, then temporal/height/width);
    a family whose layers cannot keep packed pages apart refuses (`ModelFamily.packing_refusal`)."""
    refusal = family_of_model(language_model).packing_refusal
    if refusal is not None:
        raise UsageError(refusal)
    return page_position_ids(language_model, batch)


def page_position_ids(language_model: Any, batch: PageBatch) -> torch.Tensor:
    """packed_position_ids without the family's refusal (what each page's positions are, packable or not)."""
    input_ids = batch["input_ids"]
    rows, length = input_ids.shape
    positions = torch.zeros(4, rows, length, dtype=torch.long, device=input_ids.device)
    grids = iter(batch["image_grid_thw"])
    for r, page_lengths in enumerate(batch["page_lengths"]):
        start = 0
        for page_length in page_lengths:
            end = start + page_length
            ids = input_ids[r : r + 1, start:end]
            kwargs = {"image_grid_thw": next(grids)[None]}
            if "mm_token_type_ids" in batch:
                kwargs["mm_token_type_ids"] = batch["mm_token_type_ids"][r : r + 1, start:end]
            rope, _ = language_model.get_rope_index(ids, **kwargs)
            positions[1:, r, start:end] = rope[:, 0]
            positions[0, r, start:end] = torch.arange(page_length, device=input_ids.device)
            start = end
        positions[:, r, start:] = torch.arange(length - start, device=input_ids.device)
    return positions
