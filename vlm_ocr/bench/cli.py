"""`bench` command: score one candidate folder of an olmOCR-Bench directory and print/save the report."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vlm_ocr.bench.loading import BenchDataError
from vlm_ocr.bench.report import write_report
from vlm_ocr.bench.runner import score_bench

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlm_ocr bench",
        description="Score a candidate's Markdown outputs on olmOCR-Bench (overall = mean of per-JSONL pass rates).",
    )
    parser.add_argument("--bench-dir", type=Path, required=True, help="bench folder (pdfs/, *.jsonl, candidates/)")
    parser.add_argument("--candidate", required=True, help="name of the candidate folder inside --bench-dir")
    parser.add_argument("--out", type=Path, default=None, help="write the full report as JSON to this file")
    parser.add_argument("--force", action="store_true", help="skip the page-coverage and missing-file checks")
    parser.add_argument("--skip-baseline", action="store_true", help="drop every baseline test")
    parser.add_argument("--bootstrap-samples", type=int, default=1000, help="bootstrap iterations (default 1000)")
    parser.add_argument("--confidence-level", type=float, default=0.95, help="CI level (default 0.95)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0); -1 for a random one")
    parser.add_argument("--chromium", default="chromium", help="Chromium executable for math tests")
    parser.add_argument("--no-math", action="store_true", help="do not render math; math tests are not scored")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the bench command; returns 0 when a report was produced (even for a FAILED candidate), else 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = score_bench(
            args.bench_dir,
            args.candidate,
            force=args.force,
            skip_baseline=args.skip_baseline,
            bootstrap_samples=args.bootstrap_samples,
            confidence_level=args.confidence_level,
            seed=None if args.seed < 0 else args.seed,
            chromium=None if args.no_math else args.chromium,
        )
    except (FileNotFoundError, BenchDataError) as exc:
        logger.error("%s", exc)
        return 1
    write_report(report, out=args.out, stream=sys.stdout)
    if args.out is not None:
        logger.info("report written to %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
