"""Batching: pad token rows, concatenate per-patch pixel rows, carry drop records along."""

from __future__ import annotations

from typing import Any, Literal

import torch

from vlm_ocr.data.batch import PageBatch
from vlm_ocr.data.processor import IGNORE_INDEX


def pad_rows(rows: list[torch.Tensor], value: int, side: Literal["left", "right"]) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=rows[0].dtype)
    for i, row in enumerate(rows):
        if side == "right":
            out[i, : len(row)] = row
        else:
            out[i, width - len(row) :] = row
    return out


class Collator:
    """Collate samples (and dropped-sample records) into one batch.

    pixel_values and image_grid_thw are per patch / per image, so they are concatenated along dim 0.
    The batch also carries `dropped` (records of samples a step skipped), `truncated` (count) and
    `markdown_paths`, so the training loop can count what the workers skipped.
    """

    def __init__(self, pad_id: int, padding_side: Literal["left", "right"] = "right"):
        self.pad_id = pad_id
        self.padding_side = padding_side

    def __call__(self, items: list[dict[str, Any]]) -> PageBatch:
        samples = [item for item in items if "dropped" not in item]
        batch: PageBatch = {
            "dropped": [item["dropped"] for item in items if "dropped" in item],
            "truncated": sum(bool(s.get("truncated")) for s in samples),
            "markdown_paths": [s.get("markdown_path") for s in samples],
            "num_pages": len(samples),
        }
        # predict items name their PDF and page (and, from an eval set, its name and the reference)
        if any("source" in s for s in samples):
            batch["sources"] = [s.get("source") for s in samples]
        if any("page" in s for s in samples):
            batch["pages"] = [s.get("page") for s in samples]
        if any("dataset" in s for s in samples):
            batch["datasets"] = [s.get("dataset") for s in samples]
        if any("reference" in s for s in samples):
            batch["references"] = [s.get("reference") for s in samples]
        if not samples:
            return batch
        first, side = samples[0], self.padding_side
        if "input_ids" in first:
            batch["input_ids"] = pad_rows([s["input_ids"] for s in samples], self.pad_id, side)
        if "attention_mask" in first:
            batch["attention_mask"] = pad_rows([s["attention_mask"] for s in samples], 0, side)
        if "labels" in first:  # prompts (predict, generation) have none
            batch["labels"] = pad_rows([s["labels"] for s in samples], IGNORE_INDEX, side)
        if "mm_token_type_ids" in first:
            batch["mm_token_type_ids"] = pad_rows([s["mm_token_type_ids"] for s in samples], 0, side)
        batch["pixel_values"] = torch.cat([s["pixel_values"] for s in samples])
        batch["image_grid_thw"] = torch.cat([s["image_grid_thw"] for s in samples])
        return batch
