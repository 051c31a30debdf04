"""Per-token log-probabilities of sampled completions under a model: the policy, the sampling policy or the
reference (the same function for all three; the caller chooses no_grad and which weights)."""

from __future__ import annotations

from typing import Any

import torch

from vlm_ocr.model.generate import model_inputs
from vlm_ocr.model.loss import chunked_cross_entropy


def _pixel_rows(prompts: dict[str, Any]) -> list[torch.Tensor]:
    """pixel_values split per row of the batch (one image per row: a page), in row order."""
    grid = prompts["image_grid_thw"]
    if len(grid) != len(prompts["input_ids"]):
        raise ValueError(f"{len(grid)} images for {len(prompts['input_ids'])} rows: a row must hold one page image")
    return list(torch.split(prompts["pixel_values"], grid.prod(-1).tolist()))


def select_rows(prompts: dict[str, Any], rows: list[int]) -> dict[str, Any]:
    """The model inputs of some rows of a collated prompt batch (pixel rows follow their image)."""
    picked = {key: value[rows] for key, value in model_inputs(prompts).items() if key != "pixel_values"}
    if "pixel_values" in prompts:
        pixels = _pixel_rows(prompts)
        picked["pixel_values"] = torch.cat([pixels[i] for i in rows])
    return picked


def repeat_prompts(prompts: dict[str, Any], times: int) -> dict[str, Any]:
    """Each row of a prompt batch `times` times in a row, as the completions of a group follow each other."""
    return select_rows(prompts, [row for row in range(len(prompts["input_ids"])) for _ in range(times)])


def completion_logprobs(
    model: Any,
    prompts: dict[str, Any],
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float = 1.0,
    chunk_size: int = 2048,
    rows_per_forward: int | None = None,
) -> torch.Tensor:
    """(B, T) log-probabilities of each completion token given its prompt and the tokens before it; 0 where the
    mask is 0.

    Args:
        model: a Qwen2.5-VL for conditional generation (its decoder `model.model` and `lm_head`).
        prompts: B left-padded prompt rows (a left-padding Collator's batch, see repeat_prompts for groups).
        completion_ids: (B, T) right-padded completions.
        completion_mask: (B, T) 1 on the completion's tokens (end token included).
        temperature: the sampling temperature the logits are divided by (TRL scores the sampled distribution).
        chunk_size: completion tokens per lm_head chunk: no (tokens x vocabulary) logits beyond one chunk.
        rows_per_forward: rows per forward pass (None: all at once), to bound activation memory.
    """
    rows = len(completion_ids)
    step = rows_per_forward or rows
    chunks = [list(range(start, min(start + step, rows))) for start in range(0, rows, step)]
    pieces = [
        _rows_logprobs(model, prompts, completion_ids, completion_mask, c, temperature, chunk_size) for c in chunks
    ]
    return torch.cat(pieces) if len(pieces) > 1 else pieces[0]


def _rows_logprobs(
    model: Any,
    prompts: dict[str, Any],
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    rows: list[int],
    temperature: float,
    chunk_size: int,
) -> torch.Tensor:
    inputs = select_rows(prompts, rows) if len(rows) != len(completion_ids) else model_inputs(prompts)
    ids, mask = completion_ids[rows], completion_mask[rows]
    prompt_width, width = inputs["input_ids"].shape[1], ids.shape[1]
    inputs = {
        **inputs,
        "input_ids": torch.cat([inputs["input_ids"], ids], dim=1),
        "attention_mask": torch.cat([inputs["attention_mask"], mask.to(inputs["attention_mask"].dtype)], dim=1),
        "use_cache": False,
    }
    if "mm_token_type_ids" in inputs:  # completion tokens are text
        types = inputs["mm_token_type_ids"]
        inputs["mm_token_type_ids"] = torch.cat([types, types.new_zeros(ids.shape)], dim=1)
    hidden = model.model(**inputs).last_hidden_state
    states = hidden[:, prompt_width - 1 : prompt_width - 1 + width]  # the state before a token predicts it
    where = mask.bool()
    if not where.any():  # nothing to score: zeros that still belong to the graph
        return states.sum(-1) * 0.0
    logps = -chunked_cross_entropy(model.lm_head, states[where], ids[where], chunk_size, temperature)
    return torch.zeros(ids.shape, dtype=logps.dtype, device=logps.device).masked_scatter(where, logps)
