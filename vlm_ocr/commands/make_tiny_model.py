"""`python -m vlm_ocr make-tiny-model OUT`: a randomly initialised Qwen2.5-VL folder, no download."""

from __future__ import annotations

from pathlib import Path

from vlm_ocr.model.architecture import Preset, make_model_folder


def make_tiny_model(out: Path, preset: Preset = "tiny", seed: int = 0) -> int:
    """Write a random Qwen2.5-VL (model + processor with the real Qwen tokenizer) with save_pretrained.

    Args:
        out: output folder.
        preset: `tiny` (about 10M parameters, runs on CPU) or `qwen2.5-vl-7b` (the full shape).
        seed: seed of the random weights.
    """
    print(make_model_folder(out, preset, seed))
    return 0
