"""`python -m vlm_ocr inspect-data`: write what the model sees, one JSON line per sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlm_ocr.data.interface import PageData
from vlm_ocr.data.processor import IGNORE_INDEX
from vlm_ocr.errors import UsageError
from vlm_ocr.pages.files import atomic_write_text, check_output_file


def describe(item: dict[str, Any], tokenizer: Any, merge_size: int) -> dict[str, Any]:
    """One sample as JSON: ids, labels, grid, image-token count, decoded prompt and target; or the drop."""
    if "dropped" in item:
        drop = item["dropped"]
        return {"markdown_path": drop["markdown_path"], "dropped": True, "step": drop["step"], "reason": drop["reason"]}
    ids, labels = item["input_ids"].tolist(), item["labels"].tolist()
    prompt_len = next((i for i, label in enumerate(labels) if label != IGNORE_INDEX), len(labels))
    return {
        "markdown_path": item["markdown_path"],
        "dropped": False,
        "truncated": bool(item.get("truncated")),
        "input_ids": ids,
        "labels": labels,
        "image_grid_thw": item["image_grid_thw"].tolist(),
        "image_tokens": int(item["image_grid_thw"].prod(dim=-1).sum()) // merge_size**2,
        "prompt": tokenizer.decode(ids[:prompt_len], skip_special_tokens=False),
        "target": tokenizer.decode([t for t in labels if t != IGNORE_INDEX], skip_special_tokens=False),
    }


def inspect_data(experiment_args: list[str], *, out: Path, split: str = "train", limit: int = 20) -> int:
    """Write one JSON line per sample of a split as the model sees it (ids, labels, grid, decoded prompt and target).

    Args:
        out: output JSONL file.
        split: `train` or the name of an eval dataset.
        limit: number of samples (in index order).
    """
    from vlm_ocr.experiment_cli import build_cli

    check_output_file(out, "--out")
    datamodule: PageData = build_cli(experiment_args, run=False).datamodule
    datamodule.setup("fit" if split == "train" else "validate")
    if split == "train":
        dataset = datamodule.train_set
    elif split in datamodule.eval_names:
        dataset = datamodule.eval_sets[datamodule.eval_names.index(split)]
    else:
        raise UsageError(f"--split {split}: unknown split; choose train or one of {datamodule.eval_names}")
    tokenizer = datamodule.processor.tokenizer
    merge = datamodule.processor.image_processor.merge_size
    lines = [json.dumps(describe(dataset[(0, i)], tokenizer, merge)) for i in range(min(limit, len(dataset)))]
    atomic_write_text(out, "".join(line + "\n" for line in lines))
    print(out)
    return 0
