"""Fixed page prompts for the parity check and FP8 calibration: given PDFs, or generated sample pages."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vlm_ocr.data.collate import Collator
from vlm_ocr.data.predict_pages import expand_pdf_paths
from vlm_ocr.data.processor import QwenInputs
from vlm_ocr.data.transforms import BuildMessages
from vlm_ocr.pages.pdf import RenderSpec, page_count, render_page
from vlm_ocr.prep.demo_pairs import KINDS, draw_pdf

GENERATED_KINDS = ("document", "table")


def generated_pages(longest_side: int, limit: int = len(GENERATED_KINDS)) -> list[Image.Image]:
    """The same sample pages (a prose page, then a table page) on every run."""
    images = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, kind in enumerate(GENERATED_KINDS[:limit]):
            pdf = Path(tmp) / f"{kind}.pdf"
            pdf.write_bytes(draw_pdf(KINDS[kind](random.Random(i))))
            images.append(render_page(pdf, 0, RenderSpec(longest_side=longest_side)))
    return images


def pdf_pages(paths: list[str], longest_side: int, limit: int) -> list[Image.Image]:
    """Up to `limit` pages of the PDFs (files or folders searched for *.pdf), in order."""
    spec = RenderSpec(longest_side=longest_side)
    images: list[Image.Image] = []
    for pdf in expand_pdf_paths(paths):
        for index in range(page_count(pdf)):
            if len(images) == limit:
                return images
            images.append(render_page(pdf, index, spec))
    if not images:
        raise FileNotFoundError(f"no PDF pages found in {paths}")
    return images


def page_prompts(processor: Any, images: list[Image.Image]) -> list[dict[str, torch.Tensor]]:
    """The recipe's prompt for each page, collated as predict does, as a batch of one of model inputs."""
    inputs = QwenInputs(processor)
    collate = Collator(inputs.pad_id, padding_side="left")
    messages = BuildMessages()({})["messages"]
    prompts = []
    for image in images:
        batch = collate([{**inputs.prompt(messages, image), "markdown_path": None}])
        prompts.append({k: v for k, v in batch.items() if isinstance(v, torch.Tensor) and k != "labels"})
    return prompts
