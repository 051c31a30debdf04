"""Predict rows for a batch of pages, with one retry on a page the model says is not upright."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vlm_ocr.data.batch import PageBatch
from vlm_ocr.data.collate import Collator
from vlm_ocr.model.generate import GenerationSpec, generate_markdown
from vlm_ocr.pages.front_matter import FrontMatterError, parse_page_markdown

RotatedPrompt = Callable[[str, int, int], dict[str, Any]]
"""(source pdf, 1-based page, rotation_correction) -> prompt tensors of the page turned counter-clockwise by it."""


def rotation_to_fix(text: str) -> int:
    """The rotation_correction the model asks for in its front matter (olmOCR's convention: the counter-clockwise
    turn that makes the page upright, `vlm_ocr.data.augment.turn_counter_clockwise`), or 0 (also when it does not
    parse)."""
    try:
        page = parse_page_markdown(text)
    except (FrontMatterError, ValueError, TypeError):
        return 0
    return page.rotation_correction if not page.is_rotation_valid else 0


def predict_rows(
    model: Any, tokenizer: Any, batch: PageBatch, spec: GenerationSpec, rotated_prompt: RotatedPrompt | None
) -> list[dict[str, Any]]:
    """One row per page (source, page, text, tokens, finish reason, seconds, and reference/dataset when known),
    plus one error row per page that could not be read. A page the model reports as rotated is turned by its
    rotation_correction (counter-clockwise, as olmOCR's pipeline) and predicted once more; the row keeps the first
    answer under `rotation_retry`."""
    rows = []
    if batch["num_pages"]:
        results = generate_markdown(model, tokenizer, batch, spec)
        for i, result in enumerate(results):
            row = {"source": batch["sources"][i], "page": batch["pages"][i], **result}
            known = {"dataset": batch.get("datasets"), "reference": batch.get("references")}
            for key, values in {**known, "markdown_path": batch["markdown_paths"]}.items():
                if values and values[i] is not None:
                    row[key] = values[i]
            rows.append(row)
    if rotated_prompt is not None:
        retry = [(i, rotation_to_fix(row["text"])) for i, row in enumerate(rows)]
        retry = [(i, degrees) for i, degrees in retry if degrees]
        if retry:
            prompts = [rotated_prompt(rows[i]["source"], rows[i]["page"], degrees) for i, degrees in retry]
            pad_id = tokenizer.pad_token_id
            second = generate_markdown(model, tokenizer, Collator(pad_id, "left")(prompts), spec)
            for (i, degrees), result in zip(retry, second, strict=True):
                first = {k: rows[i][k] for k in ("text", "tokens_in", "tokens_out", "finish_reason", "seconds")}
                rows[i] = {**rows[i], **result, "rotation_retry": {"degrees": degrees, "first": first}}
    errors = [{**record, "error": record["reason"]} for record in batch["dropped"]]
    return rows + errors
