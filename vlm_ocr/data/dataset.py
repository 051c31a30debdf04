"""PageDataset: indexed pages + pipeline steps -> model samples, with dropped samples recorded, not hidden."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from vlm_ocr.data.index import PageRecord
from vlm_ocr.data.sample import DropSample, Sample, Transform, step_name

logger = logging.getLogger(__name__)


class PageDataset(Dataset):
    """Runs the steps over one page per item; a step that drops the sample yields a `dropped` record.

    Items are addressed by index or by (epoch, index) from an epoch-aware sampler, so random steps can
    seed themselves from (seed, epoch, index) and give the same result in any worker process.
    """

    def __init__(self, name: str, pages: Sequence[PageRecord], steps: Sequence[Transform], seed: int = 0):
        self.name = name
        self.pages = list(pages)
        self.steps = list(steps)
        self.seed = seed
        self.index_offset = 0

    def __len__(self) -> int:
        return len(self.pages)

    def initial_sample(self, index: int, epoch: int = 0) -> Sample:
        page = self.pages[index]
        return {
            "dataset": self.name,
            "markdown_path": page.markdown_path,
            "pdf_path": page.pdf_path,
            "index": index + self.index_offset,
            "epoch": epoch,
            "seed": self.seed,
        }

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        sample = self.initial_sample(index, epoch)
        for step in self.steps:
            try:
                result = step(sample)
            except DropSample as drop:
                return {"dropped": self._record(sample, step, drop.reason)}
            if result is None:
                return {"dropped": self._record(sample, step, "filtered")}
            sample = result
        return sample

    def _record(self, sample: Sample, step: object, reason: str) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "markdown_path": sample["markdown_path"],
            "step": step_name(step),
            "reason": reason,
        }


class ConcatPages(Dataset):
    """Several train roots as one dataset addressed by (epoch, global index)."""

    def __init__(self, parts: list[PageDataset]):
        self.parts = parts
        self.offsets = [0]
        for part in parts:
            part.index_offset = self.offsets[-1]  # augmentation seeds use the global index
            self.offsets.append(self.offsets[-1] + len(part))

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        part = bisect.bisect_right(self.offsets, index) - 1
        return self.parts[part][(epoch, index - self.offsets[part])]
