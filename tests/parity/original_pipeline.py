"""Run olmocr's own training-data steps (the mix_1025 pipeline, rotation augmentation off) over a pair tree.

Run as a script in a subprocess (its module globals, browser threads and equation cache stay out of pytest):
    python original_pipeline.py TREE PROCESSOR_DIR OUT_DIR --max-length 8192 [--max-length 2000] [--chromium PATH]
Writes OUT_DIR/samples.jsonl (one line per pair the original's dataset validates, in its order) and
OUT_DIR/images/<n>.png (the original's rendered page). Nothing here re-implements a step: every step,
the dataset scan and the collator's cut are olmocr's classes; only the browser path is given to Playwright
(without --chromium the KaTeX step is skipped, as vlm_ocr's math_check: off).
"""

from __future__ import annotations

import argparse
import json
import logging
import traceback
from pathlib import Path


def use_system_chromium(executable: str) -> None:
    """olmocr's KaTeX check launches Playwright's bundled Chromium; point it at the system's instead."""
    import weakref

    from olmocr.bench.katex import render
    from playwright.sync_api import sync_playwright

    def launch(owner) -> None:
        playwright = sync_playwright().start()
        owner.p, owner._closed = playwright, False
        owner.browser = playwright.chromium.launch(executable_path=executable)
        owner._finalizer = weakref.finalize(owner, render._cleanup_playwright, playwright, owner.browser)

    render._BrowserOwner.__init__ = launch


def recipe_steps(processor):
    """The pipeline of olmOCR-2's mix_1025 run (spec/recipe.md), RotationAugmentation left out."""
    from olmocr.prompts.prompts import PageResponse
    from olmocr.train.dataloader import (
        DatasetTextRuleFilter,
        FilterOutRotatedDocuments,
        FrontMatterOutputFormat,
        InstructUserMessages,
        NewYamlFinetuningPromptWithNoAnchoring,
        PDFRenderer,
        ReformatLatexBoldItalic,
        Tokenizer,
    )
    from olmocr.train.front_matter import FrontMatterParser

    return [
        FrontMatterParser(front_matter_class=PageResponse),
        FilterOutRotatedDocuments(),
        ReformatLatexBoldItalic(),
        DatasetTextRuleFilter(),
        PDFRenderer(target_longest_image_dim=1288),
        NewYamlFinetuningPromptWithNoAnchoring(),
        FrontMatterOutputFormat(),
        InstructUserMessages(prompt_first=True),
        Tokenizer(processor=processor),
    ]


def run_sample(sample: dict, steps: list, collators: dict) -> dict:
    """One pair through the steps as BaseMarkdownPDFDataset.__getitem__ does, then through each collator."""
    record = {"markdown_path": str(sample["markdown_path"])}
    sample = sample.copy()
    for step in steps:
        try:
            sample = step(sample)
        except Exception as err:  # the original has no drop path for these: the loader crashes
            return {**record, "status": "crashed", "step": type(step).__name__, "reason": _last_line(err)}
        if sample is None:
            return {**record, "status": "dropped", "step": type(step).__name__}
    record.update(status="kept", response=sample["response"], image_grid_thw=[sample["image_grid_thw"].tolist()])
    record.update(length=len(sample["input_ids"]), prompt_length=int((sample["labels"] == -100).sum()))
    for max_length, collator in collators.items():
        batch = collator([sample])
        record[f"cut_{max_length}"] = {
            "input_ids": batch["input_ids"][0].tolist(),
            "labels": batch["labels"][0].tolist(),
        }
    record["_image"] = sample["image"]
    return record


def _last_line(err: Exception) -> str:
    return traceback.format_exception_only(type(err), err)[-1].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("processor", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--max-length", type=int, action="append", required=True)
    parser.add_argument("--chromium", default=None, help="system Chromium for the KaTeX check (none: step skipped)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.chromium:
        use_system_chromium(args.chromium)
    else:  # no browser here: skip the KaTeX step (vlm_ocr's side runs with math_check: off)
        from olmocr.train.dataloader import DatasetTextRuleFilter

        DatasetTextRuleFilter._validate_math_equations = lambda self, text: True

    from olmocr.train.dataloader import BaseMarkdownPDFDataset
    from olmocr.train.train import QwenDataCollator
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(str(args.processor))
    steps = recipe_steps(processor)
    collators = {n: QwenDataCollator(max_token_len=n) for n in args.max_length}
    dataset = BaseMarkdownPDFDataset(args.tree, [])  # its own scan and validation (one page, readable)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    with open(args.out / "samples.jsonl", "w") as lines:
        for n, sample in enumerate(dataset.samples):
            record = run_sample(sample, steps, collators)
            image = record.pop("_image", None)
            if image is not None:
                record["image"] = str(args.out / "images" / f"{n}.png")
                image.convert("RGB").save(record["image"])
            lines.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
