"""Scoring generated pages against references (metrics) and exploring predictions files (explore)."""

from vlm_ocr.eval.metrics import DatasetScores, PageScore, is_repetitive, score_page

__all__ = ["DatasetScores", "PageScore", "is_repetitive", "score_page"]
