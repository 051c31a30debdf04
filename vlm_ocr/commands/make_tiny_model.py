"""`python -m vlm_ocr make-tiny-model OUT`: a randomly initialised model folder of any family, no download."""

from __future__ import annotations

from pathlib import Path

from vlm_ocr.export.folder import staged_folder
from vlm_ocr.model.architecture import Preset, make_model_folder


def make_tiny_model(out: Path, preset: Preset = "tiny", seed: int = 0, overwrite: bool = False) -> int:
    """Write a random model (with its processor and the family's real tokenizer files) with save_pretrained.

    The folder appears complete or not at all; one that already holds files (a model's weights) is refused unless
    `--overwrite true`.

    Args:
        out: output folder.
        preset: `tiny` (Qwen2.5-VL, about 10M parameters, runs on CPU), `qwen3-vl-tiny`, `qwen3.5-tiny`, or a
            released shape for benchmarks: `qwen2.5-vl-7b`, `qwen3-vl-2b`/`-4b`/`-8b`, `qwen3.5-4b`/`-9b`/`-27b`.
        seed: seed of the random weights.
        overwrite: replace a folder that already holds files.
    """
    with staged_folder(out, overwrite) as staging:
        make_model_folder(staging, preset, seed)
    print(out)
    return 0
