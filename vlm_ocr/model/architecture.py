"""make-tiny-model's presets of every family: a random model of a preset's shape plus its offline processor."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from vlm_ocr.model.families import PRESETS

Preset = Literal[
    "tiny",
    "qwen2.5-vl-7b",
    "qwen3-vl-tiny",
    "qwen3-vl-2b",
    "qwen3-vl-4b",
    "qwen3-vl-8b",
    "qwen3.5-tiny",
    "qwen3.5-4b",
    "qwen3.5-9b",
    "qwen3.5-27b",
]
"""Every family's presets (`vlm_ocr.model.families.PRESETS`; a test keeps the two lists equal)."""


def build_config(preset: Preset = "tiny", decoder_layers: int | None = None, vision_depth: int | None = None) -> Any:
    """The transformers config of a preset; `decoder_layers` and `vision_depth` make a shallower model of the same
    width (benchmark dry runs and per-layer measurements)."""
    return PRESETS[preset].config(preset, decoder_layers, vision_depth)


def build_processor(preset: Preset = "tiny") -> Any:
    """The processor of the preset's family: real tokenizer files, chat template, image-processor settings."""
    return PRESETS[preset].build_processor()


def make_model_folder(out: str | Path, preset: Preset = "tiny", seed: int = 0) -> Path:
    """Write a randomly initialised model of `preset` plus its processor with save_pretrained.

    Args:
        out: folder to write (created; existing files are replaced).
        preset: architecture; the `*tiny` ones run anywhere, the others are released shapes (benchmarks).
        seed: seed of the random weights.
    """
    import torch

    family = PRESETS[preset]
    out = Path(out)
    torch.manual_seed(seed)
    model = family.load_class()(build_config(preset))
    processor = family.build_processor()
    tokenizer = processor.tokenizer
    end_of_turn, end_of_text = tokenizer.convert_tokens_to_ids([family.end_of_turn, family.end_of_text])
    model.generation_config.eos_token_id = [end_of_turn, end_of_text]
    model.generation_config.pad_token_id = end_of_text
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
