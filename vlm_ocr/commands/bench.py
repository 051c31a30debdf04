"""`python -m vlm_ocr bench`: score a candidate on olmOCR-Bench, or (`--predict`) predict the bench PDFs first."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from vlm_ocr.pages.files import atomic_write_text


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


def predict_bench(bench_dir: Path, candidate: str, cli_args: list[str]) -> Path:
    """Run `predict` of the experiment config on bench_dir/pdfs and write bench_dir/candidate."""
    from vlm_ocr.experiment_cli import build_cli

    pdf_root = bench_dir / "pdfs"
    if not pdf_root.is_dir():
        raise SystemExit(f"bench --predict: {pdf_root} is not a folder of bench PDFs")
    with tempfile.TemporaryDirectory(prefix="vlm_ocr_bench_") as scratch:
        out = Path(scratch) / "predictions"
        build_cli(
            [
                "predict",
                *cli_args,
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


def main(argv: list[str]) -> int:
    from vlm_ocr.bench.cli import build_parser
    from vlm_ocr.bench.cli import main as score_main

    if "--predict" not in argv:
        return score_main(argv)
    argv = [a for a in argv if a != "--predict"]
    bench_args, cli_args = build_parser().parse_known_args(argv)
    if not any(a == "--config" or a.startswith("--config=") for a in cli_args):
        raise SystemExit("bench --predict needs --config X.yaml (the experiment whose model predicts)")
    predict_bench(bench_args.bench_dir, bench_args.candidate, cli_args)
    return score_main(_without_subsequence(argv, cli_args))


def _without_subsequence(argv: list[str], removed: list[str]) -> list[str]:
    """argv minus the arguments argparse left over (they appear in argv in the same order)."""
    kept, pending = [], list(removed)
    for arg in argv:
        if pending and arg == pending[0]:
            pending.pop(0)
        else:
            kept.append(arg)
    return kept
