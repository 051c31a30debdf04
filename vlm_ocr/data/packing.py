"""Packing: several pages in one row up to a token budget, each page keeping its own positions and attention.

The plan uses token counts from the dataset index, so nothing is rendered or tokenized to plan: the prompt's
tokens (counted once from the chat template), exact image tokens from the page size and the render settings,
and the answer's tokens as the index stored them (tokenized once when the index was built, cached under the
tokenizer's fingerprint; an index built without a tokenizer falls back to an estimate from the character
count). The collator then packs the real samples: a page that does not fit the current row starts a new one,
so a plan that falls short never cuts or drops a page.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

from vlm_ocr.data.collate import Collator, pad_rows
from vlm_ocr.data.index import PageRecord
from vlm_ocr.data.processor import IGNORE_INDEX
from vlm_ocr.prep.pdf import RenderSpec, render_scale

PATCH, MERGE = 14, 2
FACTOR = PATCH * MERGE


def image_tokens(width_pt: float, height_pt: float, render: RenderSpec, min_pixels: int, max_pixels: int) -> int:
    """Decoder tokens of a page image: the render size, then Qwen's smart_resize, then one token per 2x2 patches."""
    scale = render_scale(width_pt, height_pt, render)
    width, height = max(1, round(width_pt * scale)), max(1, round(height_pt * scale))
    h_bar, w_bar = max(FACTOR, round(height / FACTOR) * FACTOR), max(FACTOR, round(width / FACTOR) * FACTOR)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar, w_bar = math.floor(height / beta / FACTOR) * FACTOR, math.floor(width / beta / FACTOR) * FACTOR
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar, w_bar = math.ceil(height * beta / FACTOR) * FACTOR, math.ceil(width * beta / FACTOR) * FACTOR
    return (h_bar // PATCH) * (w_bar // PATCH) // (MERGE * MERGE)


def answer_estimate(text_chars: int, chars_per_token: float = 3.2) -> int:
    """A generous answer length from the character count, for pages indexed without a tokenizer."""
    return 40 + math.ceil(text_chars / chars_per_token)


def planned_tokens(
    page: PageRecord,
    render: RenderSpec,
    prompt_tokens: int,
    min_pixels: int = 56 * 56,
    max_pixels: int = 28 * 28 * 16384,
) -> int:
    """Planned length of one sample: prompt + image tokens + the stored answer tokens (else their estimate)."""
    answer = page.answer_tokens if page.answer_tokens is not None else answer_estimate(page.text_chars)
    return prompt_tokens + image_tokens(page.width_pt, page.height_pt, render, min_pixels, max_pixels) + answer


class PackingBatchSampler(Sampler[list[Any]]):
    """Groups the keys of an item sampler into packs whose planned lengths fit `max_tokens`, in sampler order.

    Args:
        sampler: yields item keys (e.g. (epoch, index) from EpochSampler); its set_epoch is forwarded.
        lengths: planned tokens per dataset index.
        max_tokens: token budget of one pack.
    """

    def __init__(self, sampler: Sampler, lengths: Sequence[int], max_tokens: int):
        self.sampler = sampler
        self.lengths = lengths
        self.max_tokens = max_tokens

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def _index(self, key: Any) -> int:
        return key[1] if isinstance(key, tuple) else key

    def __iter__(self) -> Iterator[list[Any]]:
        pack: list[Any] = []
        used = 0
        for key in self.sampler:
            length = min(self.lengths[self._index(key)], self.max_tokens)
            if pack and used + length > self.max_tokens:
                yield pack
                pack, used = [], 0
            pack.append(key)
            used += length
        if pack:
            yield pack

    def __len__(self) -> int:
        return sum(1 for _ in self)


class PackCollator:
    """Concatenate samples into rows of at most `max_tokens` tokens (one row unless the plan fell short).

    The batch has no attention_mask: the model derives per-page causal attention from the per-page
    position ids that VlmOcrModule builds from `page_lengths`. `page_index` gives each token's page
    (-1 on padding) for per-page loss weighting.
    """

    def __init__(self, pad_id: int, max_tokens: int):
        self.pad_id = pad_id
        self.max_tokens = max_tokens
        self.plain = Collator(pad_id)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.plain([item for item in items if "dropped" in item])  # records of dropped samples
        samples = [item for item in items if "dropped" not in item]
        batch.update(
            num_pages=len(samples),
            markdown_paths=[s["markdown_path"] for s in samples],
            truncated=sum(bool(s.get("truncated")) for s in samples),
        )
        if not samples:
            return batch
        rows: list[list[int]] = [[]]
        used = 0
        for i, sample in enumerate(samples):
            length = len(sample["input_ids"])
            if rows[-1] and used + length > self.max_tokens:
                rows.append([])
                used = 0
            rows[-1].append(i)
            used += length

        def joined(key: str) -> list[torch.Tensor]:
            return [torch.cat([samples[i][key] for i in row]) for row in rows]

        batch["input_ids"] = pad_rows(joined("input_ids"), self.pad_id, "right")
        batch["labels"] = pad_rows(joined("labels"), IGNORE_INDEX, "right")
        if "mm_token_type_ids" in samples[0]:
            batch["mm_token_type_ids"] = pad_rows(joined("mm_token_type_ids"), 0, "right")
        page_index = [torch.cat([torch.full((len(samples[i]["input_ids"]),), i) for i in row]) for row in rows]
        batch["page_index"] = pad_rows(page_index, -1, "right")
        batch["page_lengths"] = [[len(samples[i]["input_ids"]) for i in row] for row in rows]
        order = [i for row in rows for i in row]  # images in the order their tokens appear
        batch["pixel_values"] = torch.cat([samples[i]["pixel_values"] for i in order])
        batch["image_grid_thw"] = torch.cat([samples[i]["image_grid_thw"] for i in order])
        batch["markdown_paths"] = [samples[i]["markdown_path"] for i in order]
        batch["datasets"] = [s.get("dataset") for s in samples]  # indexed like page_index
        return batch
