"""olmOCR-Bench scorer: unit tests on candidate Markdown per PDF page, aggregated into a benchmark score."""

from vlm_ocr.bench.report import BenchReport, format_report, write_report
from vlm_ocr.bench.runner import score_bench

__all__ = ["BenchReport", "format_report", "score_bench", "write_report"]
