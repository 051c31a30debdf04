"""What a served export needs besides weights and processor: the processor files olmOCR's checkpoint preparation
and vLLM look for, files readable by others, and the inference settings (prompt, page rendering, generation) the
model was trained with, so that input built elsewhere matches predict's exactly."""

from __future__ import annotations

import json
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vlm_ocr.model.families import family_of_model
from vlm_ocr.pages.files import atomic_write_text

SETTINGS_FILE = "vlm_ocr_inference.json"
"""The recorded inference settings, beside config.json."""


def inference_settings(messages: list[dict[str, Any]], render: Any, generation: Any) -> dict[str, Any]:
    """The chat messages of one page (an `{"type": "image"}` entry stands for the rendered page), the page render
    settings (`vlm_ocr.pages.pdf.RenderSpec`) and the decoding settings (`vlm_ocr.model.generate.GenerationSpec`)."""
    return {
        "messages": messages,
        "render": asdict(render),
        "generation": asdict(generation),
        "how_to": (
            "render each page with vlm_ocr.pages.pdf.render_page(pdf, page_index, RenderSpec(**render)) (olmOCR's "
            "rendering: with page_box media, pdftoppm -r longest_side * 72 / longest MediaBox side); put the image "
            "where messages has {'type': 'image'}; apply the processor's chat template with add_generation_prompt and "
            "chat_template_kwargs; generate with these settings, stopping at stop_tokens"
        ),
    }


def write_serving_files(folder: Path, processor: Any, settings: dict[str, Any] | None, model: Any) -> None:
    """Add preprocessor_config.json and chat_template.json (the files before processor_config.json and
    chat_template.jinja existed), the inference settings when known (with the tokens that end an answer in
    `model`'s family), and make every file readable by others (safetensors writes its shards with mode 0600)."""
    folder = Path(folder)
    if settings is not None:
        family = family_of_model(model)
        stops = [family.end_of_turn, family.end_of_text]
        settings = {**settings, "chat_template_kwargs": dict(family.chat_template_kwargs), "stop_tokens": stops}
    processor.image_processor.save_pretrained(folder)  # preprocessor_config.json
    template = processor.chat_template or processor.tokenizer.chat_template
    atomic_write_text(folder / "chat_template.json", json.dumps({"chat_template": template}, indent=2) + "\n")
    if settings is not None:
        atomic_write_text(folder / SETTINGS_FILE, json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o644)


def read_settings(folder: Path) -> dict[str, Any] | None:
    """The inference settings recorded in an export or model folder, if any."""
    path = Path(folder) / SETTINGS_FILE
    return json.loads(path.read_text()) if path.is_file() else None
