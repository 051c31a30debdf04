"""`python -m vlm_ocr make-sample-data OUT`: the deterministic sample pair trees the embedded default trains on."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from vlm_ocr.export.folder import staged_folder
from vlm_ocr.prep.demo_pairs import generate_sample_data


def make_sample_data(
    out: Path,
    train_per_kind: int = 2,
    eval_per_kind: int = 1,
    seed: int = 0,
    train_kinds: list[str] | None = ["document"],  # noqa: B006 (the CLI's default, never mutated)
    text: Literal["full", "short"] = "short",
    overwrite: bool = False,
) -> int:
    """Write OUT/train and OUT/eval: document, list, HTML table, LaTeX, German, blank and rotated pages.

    The default is the embedded demo's data: two short document pages to train on (what a tiny model learns to
    tell apart and read back within minutes on a CPU) and one short page of every kind to evaluate on.
    `--train_kinds null --train_per_kind 3 --text full` writes every kind at full length.

    The folder appears complete or not at all; one that already holds files is refused unless `--overwrite true`.

    Args:
        out: output folder.
        train_per_kind: training pages per kind of `train_kinds`.
        eval_per_kind: evaluation pages per kind (every kind).
        seed: seed of the generated text.
        train_kinds: kinds of the training pages (null: every kind): document, list, table, equation, german,
            blank, rotated.
        text: `short` (one sentence of a few words per paragraph, two list items or table rows) or `full`.
        overwrite: replace a folder that already holds files.
    """
    with staged_folder(out, overwrite) as staging:
        generate_sample_data(staging, train_per_kind, eval_per_kind, seed, train_kinds, text)
    print(out)
    return 0
