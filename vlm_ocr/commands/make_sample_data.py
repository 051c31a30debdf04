"""`python -m vlm_ocr make-sample-data OUT`: the deterministic sample pair trees the embedded default trains on."""

from __future__ import annotations

from pathlib import Path

from vlm_ocr.prep.demo_pairs import generate_sample_data


def make_sample_data(out: Path, train_per_kind: int = 3, eval_per_kind: int = 1, seed: int = 0) -> int:
    """Write OUT/train and OUT/eval: document, list, HTML table, LaTeX, German, blank and rotated pages.

    Args:
        out: output folder.
        train_per_kind: training pages per kind.
        eval_per_kind: evaluation pages per kind.
        seed: seed of the generated text.
    """
    print(generate_sample_data(out, train_per_kind, eval_per_kind, seed))
    return 0
