"""`python -m vlm_ocr inspect-data`: write what the model sees, one JSON line per sample."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vlm_ocr.data.processor import IGNORE_INDEX
from vlm_ocr.pages.files import atomic_write_text


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


def inspect_data(cli_args: list[str], split: str, limit: int, out: Path) -> Path:
    from vlm_ocr.experiment_cli import build_cli

    cli = build_cli(cli_args, run=False)
    datamodule = cli.datamodule
    datamodule.setup("fit" if split == "train" else "validate")
    if split == "train":
        dataset = datamodule.train_set
    elif split in datamodule.eval_names:
        dataset = datamodule.eval_sets[datamodule.eval_names.index(split)]
    else:
        raise SystemExit(f"inspect-data: unknown split {split!r}; choose train or one of {datamodule.eval_names}")
    tokenizer = datamodule.processor.tokenizer
    merge = datamodule.processor.image_processor.merge_size
    lines = [json.dumps(describe(dataset[(0, i)], tokenizer, merge)) for i in range(min(limit, len(dataset)))]
    atomic_write_text(out, "".join(line + "\n" for line in lines))
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vlm_ocr inspect-data",
        description="Write one JSON line per sample of a split as the model sees it. Other arguments "
        "(--config X.yaml, --data.* overrides) go to the experiment's config parser.",
    )
    parser.add_argument("--split", default="train", help="train or the name of an eval dataset")
    parser.add_argument("--limit", type=int, default=20, help="number of samples (in index order)")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL file")
    known, rest = parser.parse_known_args(argv)
    print(inspect_data(rest, known.split, known.limit, known.out))
    return 0
