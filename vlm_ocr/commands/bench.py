"""`python -m vlm_ocr bench`: score a candidate on olmOCR-Bench, or (`--predict`) predict the bench PDFs first."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

from vlm_ocr.errors import UsageError
from vlm_ocr.pages.files import atomic_write_text

logger = logging.getLogger(__name__)


def write_candidate(predictions: Path, pdf_root: Path, candidate_dir: Path) -> int:
    """Lay predictions out as olmOCR-Bench candidate files: <dir of pdf>/<stem>_pg<page>_repeat1.md."""
    written = 0
    for line in predictions.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "text" not in row:
            continue  # an unreadable PDF: no output file, so its tests fail as missing
        relative = Path(row["source"]).resolve().relative_to(pdf_root.resolve())
        target = candidate_dir / relative.parent / f"{relative.stem}_pg{row['page']}_repeat1.md"
        atomic_write_text(target, row["text"])
        written += 1
    return written


def predict_bench(bench_dir: Path, candidate: str, experiment_args: list[str]) -> Path:
    """Run `predict` of the experiment config on bench_dir/pdfs and write bench_dir/candidate."""
    from vlm_ocr.experiment_cli import build_cli

    pdf_root = bench_dir / "pdfs"
    if not pdf_root.is_dir():
        raise UsageError(f"--bench-dir {bench_dir}: no pdfs/ folder of bench PDFs to predict")
    with tempfile.TemporaryDirectory(prefix="vlm_ocr_bench_") as scratch:
        out = Path(scratch) / "predictions"
        build_cli(
            [
                "predict",
                *experiment_args,
                "--data.predict_paths",
                json.dumps([str(pdf_root)]),
                "--data.predict_eval_datasets",
                "[]",
                "--trainer.callbacks+=vlm_ocr.callbacks.PredictionWriter",
                f"--trainer.callbacks.out_dir={out}",
            ]
        )
        count = write_candidate(out / "predictions.jsonl", pdf_root, bench_dir / candidate)
    print(f"wrote {count} candidate pages to {bench_dir / candidate}")
    return bench_dir / candidate


def bench(
    experiment_args: list[str],
    *,
    bench_dir: Path,
    candidate: str,
    predict: bool = False,
    out: Path | None = None,
    force: bool = False,
    skip_baseline: bool = False,
    bootstrap_samples: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
    chromium: str = "chromium",
    no_math: bool = False,
) -> int:
    """Score a candidate's Markdown outputs on olmOCR-Bench (overall = mean of per-JSONL pass rates); with
    `--predict --config X.yaml`, predict the bench PDFs with the experiment's model first.

    Args:
        bench_dir: bench folder (pdfs/, *.jsonl, candidates/).
        candidate: name of the candidate folder inside --bench-dir.
        predict: first predict bench_dir/pdfs into the candidate folder with the experiment of --config.
        out: write the full report as JSON to this file.
        force: skip the page-coverage and missing-file checks.
        skip_baseline: drop every baseline test.
        bootstrap_samples: bootstrap iterations.
        confidence_level: CI level.
        seed: bootstrap seed; -1 for a random one.
        chromium: Chromium executable for math tests.
        no_math: do not render math; math tests are not scored.
    """
    from vlm_ocr.bench.loading import BenchDataError
    from vlm_ocr.bench.report import write_report
    from vlm_ocr.bench.runner import score_bench

    if experiment_args and not predict:
        raise UsageError(f"unrecognized arguments: {' '.join(experiment_args)} (experiment options need --predict)")
    if predict and not any(a == "--config" or a.startswith("--config=") for a in experiment_args):
        raise UsageError("--predict needs --config X.yaml (the experiment whose model predicts)")
    if predict:
        predict_bench(bench_dir, candidate, experiment_args)
    try:
        report = score_bench(
            bench_dir,
            candidate,
            force=force,
            skip_baseline=skip_baseline,
            bootstrap_samples=bootstrap_samples,
            confidence_level=confidence_level,
            seed=None if seed < 0 else seed,
            chromium=None if no_math else chromium,
        )
    except BenchDataError as err:
        raise UsageError(str(err)) from err
    write_report(report, out=out, stream=sys.stdout)
    if out is not None:
        logger.info("report written to %s", out)
    return 0
