"""Callbacks used by the experiment configs (re-exported for class_path spelling)."""

from vlm_ocr.callbacks.hf_export import ExportHuggingFace
from vlm_ocr.callbacks.prediction_writer import PredictionWriter
from vlm_ocr.callbacks.validate_before_fit import ValidateBeforeFit

__all__ = ["ExportHuggingFace", "PredictionWriter", "ValidateBeforeFit"]
