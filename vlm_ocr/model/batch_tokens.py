"""Token counts of a collated batch (padded or packed): the one count behind throughput, MFU and tokens seen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlm_ocr.data.batch import PageBatch
from vlm_ocr.data.processor import IGNORE_INDEX


@dataclass(frozen=True)
class BatchTokens:
    """What one batch holds, padding not counted."""

    page_lengths: list[int]  # tokens of every page (prompt, image and answer)
    patches: int  # vision patches the vision tower runs on
    image_tokens: int  # decoder tokens the patches become after the spatial merge
    answer_tokens: int  # positions the loss is taken on

    @property
    def total(self) -> int:
        return sum(self.page_lengths)


def page_lengths(batch: PageBatch) -> list[int]:
    """Token count of every page of a padded or packed batch."""
    if "page_lengths" in batch:
        return [length for row in batch["page_lengths"] for length in row]
    return [int(n) for n in batch["attention_mask"].sum(dim=1).tolist()]


def spatial_merge_size(model: Any) -> int:
    """Patches merged per side into one decoder token (a peft wrapper passes the config through)."""
    return int(model.config.vision_config.spatial_merge_size)


def count_tokens(batch: PageBatch, merge_size: int) -> BatchTokens:
    """The counts of a batch that holds pages (`num_pages` > 0)."""
    patches = int(batch["image_grid_thw"].prod(dim=-1).sum())
    answers = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    return BatchTokens(page_lengths(batch), patches, patches // merge_size**2, answers)
