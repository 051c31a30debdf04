"""Token counts of a collated batch (padded or packed), for throughput telemetry."""

from __future__ import annotations

from typing import Any

MERGE = 2


def batch_tokens(batch: dict[str, Any]) -> tuple[int, int]:
    """(all real tokens, image tokens) of a batch; padding does not count."""
    if "attention_mask" in batch:
        total = int(batch["attention_mask"].sum())
    else:
        total = int((batch["page_index"] >= 0).sum())
    image = int(batch["image_grid_thw"].prod(dim=-1).sum()) // (MERGE * MERGE)
    return total, image
