"""Packing: several pages in one row up to a token budget, each page keeping its own positions and attention.

The plan uses token counts from the dataset index, so nothing is rendered or tokenized to plan: the prompt's
tokens (counted once from the chat template), exact image tokens from the page size and the render settings,
and the answer's tokens as the index stored them (tokenized once when the index was built, cached under the
tokenizer's fingerprint; an index built without a tokenizer falls back to an estimate from the character
count). The collator then concatenates the real samples into one row: a plan that falls short (e.g. a page
rotated by augmentation has another image size) makes that row longer than the budget, but never cuts or drops a
page and never opens a second row. One row is what every attention backend reads page boundaries from: flash-attention
2 gets varlen boundaries from the position ids only at batch size 1 (with two rows it would run plain causal
attention over each whole row, pages seeing each other), and one longer row holds fewer tokens than two padded ones.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import torch
from torch.utils.data import Sampler

from vlm_ocr.data.batch import PageBatch
from vlm_ocr.data.collate import Collator
from vlm_ocr.data.index import PageRecord
from vlm_ocr.pages.pdf import RenderSpec, render_scale

T = TypeVar("T")


def image_tokens(width_pt: float, height_pt: float, render: RenderSpec, image_processor: Any) -> int:
    """Decoder tokens of a page image: the render size, then the image processor's own resize arithmetic
    (`get_number_of_image_patches`: its pixel bounds, patch size and rounding), one token per merge x merge patches.
    """
    scale = render_scale(width_pt, height_pt, render)
    width, height = max(1, round(width_pt * scale)), max(1, round(height_pt * scale))
    return image_processor.get_number_of_image_patches(height, width, {}) // image_processor.merge_size**2


def answer_estimate(text_chars: int, chars_per_token: float = 3.2) -> int:
    """A generous answer length from the character count, for pages indexed without a tokenizer."""
    return 40 + math.ceil(text_chars / chars_per_token)


def planned_tokens(page: PageRecord, render: RenderSpec, prompt_tokens: int, image_processor: Any) -> int:
    """Planned length of one sample: prompt + image tokens + the stored answer tokens (else their estimate).

    The image tokens follow the processor's pixel bounds, patch size and merge size.
    """
    answer = page.answer_tokens if page.answer_tokens is not None else answer_estimate(page.text_chars)
    return prompt_tokens + image_tokens(page.width_pt, page.height_pt, render, image_processor) + answer


def greedy_packs(items: Iterable[T], length: Callable[[T], int], max_tokens: int) -> Iterator[list[T]]:
    """Consecutive items grouped in order, a new pack whenever the next would exceed `max_tokens`; an item over
    the budget gets a pack of its own."""
    pack: list[T] = []
    used = 0
    for item in items:
        size = min(length(item), max_tokens)
        if pack and used + size > max_tokens:
            yield pack
            pack, used = [], 0
        pack.append(item)
        used += size
    if pack:
        yield pack


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

    def _length(self, key: Any) -> int:
        return self.lengths[key[1] if isinstance(key, tuple) else key]

    def __iter__(self) -> Iterator[list[Any]]:
        return greedy_packs(self.sampler, self._length, self.max_tokens)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class PackCollator:
    """Concatenate samples into one row (batch size 1), however long the planned pack turned out.

    The batch has no attention_mask and no padding: the model derives per-page causal attention from the per-page
    position ids that VlmOcrModule builds from `page_lengths` (one list: the single row). `page_index` gives each
    token's page for per-page loss weighting.

    Args:
        pad_id: padding id (only for batches whose samples were all dropped).
        max_tokens: the pack budget of the plan; a row over it is warned about once (the plan under-estimates).
    """

    def __init__(self, pad_id: int, max_tokens: int):
        self.pad_id = pad_id
        self.max_tokens = max_tokens
        self.plain = Collator(pad_id)
        self._warned = False

    def __call__(self, items: list[dict[str, Any]]) -> PageBatch:
        batch = self.plain([item for item in items if "dropped" in item])  # records of dropped samples
        samples = [item for item in items if "dropped" not in item]
        batch["num_pages"] = len(samples)
        batch["markdown_paths"] = [s["markdown_path"] for s in samples]
        batch["truncated"] = sum(bool(s.get("truncated")) for s in samples)
        if not samples:
            return batch
        lengths = [len(s["input_ids"]) for s in samples]
        if sum(lengths) > self.max_tokens and not self._warned:
            warnings.warn(
                f"a pack of {len(samples)} pages has {sum(lengths)} tokens, over the planned {self.max_tokens}: it "
                "runs as one longer row (the plan's token counts fall short, e.g. after rotation augmentation)",
                stacklevel=2,
            )
            self._warned = True
        batch["input_ids"] = torch.cat([s["input_ids"] for s in samples])[None]
        batch["labels"] = torch.cat([s["labels"] for s in samples])[None]
        if "mm_token_type_ids" in samples[0]:
            batch["mm_token_type_ids"] = torch.cat([s["mm_token_type_ids"] for s in samples])[None]
        batch["page_index"] = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])[None]
        batch["page_lengths"] = [lengths]
        batch["pixel_values"] = torch.cat([s["pixel_values"] for s in samples])
        batch["image_grid_thw"] = torch.cat([s["image_grid_thw"] for s in samples])
        batch["datasets"] = [s.get("dataset") for s in samples]  # indexed like page_index
        return batch
