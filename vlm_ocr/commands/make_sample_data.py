"""`python -m vlm_ocr make-sample-data OUT`: the deterministic sample pair trees the embedded default trains on."""

from __future__ import annotations

from pathlib import Path

from vlm_ocr.export.folder import staged_folder
from vlm_ocr.prep.demo_pairs import generate_sample_data


def make_sample_data(
    out: Path, train_per_kind: int = 3, eval_per_kind: int = 1, seed: int = 0, overwrite: bool = False
) -> int:
    """Write OUT/train and OUT/eval: document, list, HTML table, LaTeX, German, blank and rotated pages.

    The folder appears complete or not at all; one that already holds files is refused unless `--overwrite true`.

    Args:
        out: output folder.
        train_per_kind: training pages per kind.
        eval_per_kind: evaluation pages per kind.
        seed: seed of the generated text.
        overwrite: replace a folder that already holds files.
    """
    with staged_folder(out, overwrite) as staging:
        generate_sample_data(staging, train_per_kind, eval_per_kind, seed)
    print(out)
    return 0
