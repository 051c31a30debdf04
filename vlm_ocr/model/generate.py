"""Batched generation of page Markdown with the KV cache; used by predict, validation and notebooks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from vlm_ocr.model.families import family_of_model


@dataclass
class GenerationSpec:
    """How answers are generated."""

    max_new_tokens: int = 4096
    """Most tokens generated per page."""
    do_sample: bool = False
    """Sample instead of greedy decoding."""
    temperature: float = 1.0
    """Sampling temperature (with do_sample)."""
    top_p: float = 1.0
    """Nucleus sampling mass (with do_sample)."""


MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "mm_token_type_ids")


def model_inputs(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The batch entries the model's forward takes (mm_token_type_ids only when the processor made it)."""
    return {key: batch[key] for key in MODEL_INPUT_KEYS if key in batch}


def end_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Ids that end an answer: the family's end of turn and end of text."""
    family = family_of_model(model)
    return sorted(set(tokenizer.convert_tokens_to_ids([family.end_of_turn, family.end_of_text])))


@torch.no_grad()
def generate_new_tokens(
    model: Any, tokenizer: Any, batch: Mapping[str, Any], spec: GenerationSpec, **options: Any
) -> torch.Tensor:
    """The tokens generated after each row of a left-padded batch, (rows, new) with padding after an end token.

    `options` go to `generate` as they are (num_return_sequences: that many rows per prompt, consecutive).
    """
    inputs = model_inputs(batch)
    options = {"max_new_tokens": spec.max_new_tokens, "do_sample": spec.do_sample, **options}
    if spec.do_sample:
        options.update(temperature=spec.temperature, top_p=spec.top_p)
    end_ids = end_token_ids(model, tokenizer)
    output = model.generate(**inputs, **options, pad_token_id=tokenizer.pad_token_id, eos_token_id=end_ids)
    return output[:, inputs["input_ids"].shape[1] :]


def generate_markdown(
    model: Any, tokenizer: Any, batch: Mapping[str, Any], spec: GenerationSpec
) -> list[dict[str, Any]]:
    """Generate one answer per row of a left-padded batch.

    Returns per row: text, tokens_in, tokens_out, finish_reason (`stop` when the model closed its
    turn, `length` when it hit max_new_tokens) and seconds (the batch's wall time shared equally).
    """
    start = time.perf_counter()
    new_tokens = generate_new_tokens(model, tokenizer, batch, spec)
    end_ids = set(end_token_ids(model, tokenizer))
    seconds = (time.perf_counter() - start) / len(new_tokens)
    results = []
    for row, tokens in zip(batch["attention_mask"], new_tokens.tolist(), strict=True):
        stop_at = next((i for i, t in enumerate(tokens) if t in end_ids), None)
        kept = tokens if stop_at is None else tokens[:stop_at]
        results.append(
            {
                "text": tokenizer.decode(kept, skip_special_tokens=True),
                "tokens_in": int(row.sum()),
                "tokens_out": len(kept) + (stop_at is not None),
                "finish_reason": "length" if stop_at is None else "stop",
                "seconds": seconds,
            }
        )
    return results
