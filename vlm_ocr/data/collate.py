"""Batching: pad token rows, concatenate per-patch pixel rows, carry drop records along."""

from __future__ import annotations

from typing import Any, Literal

import torch

from vlm_ocr.data.processor import IGNORE_INDEX

TENSOR_KEYS = ("input_ids", "attention_mask", "labels", "mm_token_type_ids")


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

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        samples = [item for item in items if "dropped" not in item]
        batch: dict[str, Any] = {
            "dropped": [item["dropped"] for item in items if "dropped" in item],
            "truncated": sum(bool(s.get("truncated")) for s in samples),
            "markdown_paths": [s.get("markdown_path") for s in samples],
            "num_pages": len(samples),
        }
        for key in ("source", "page", "dataset", "reference"):  # predict items name their PDF and page
            if any(key in s for s in samples):
                batch[f"{key}s"] = [s.get(key) for s in samples]
        if not samples:
            return batch
        pads = {"input_ids": self.pad_id, "attention_mask": 0, "labels": IGNORE_INDEX, "mm_token_type_ids": 0}
        for key in TENSOR_KEYS:
            if key in samples[0]:
                batch[key] = pad_rows([s[key] for s in samples], pads[key], self.padding_side)
        batch["pixel_values"] = torch.cat([s["pixel_values"] for s in samples])
        batch["image_grid_thw"] = torch.cat([s["image_grid_thw"] for s in samples])
        return batch
