"""Callbacks used by the experiment configs (re-exported for class_path spelling)."""

from vlm_ocr.callbacks.csv_logger import ResumableCSVLogger
from vlm_ocr.callbacks.generation_metrics import GenerationMetrics
from vlm_ocr.callbacks.hf_export import ExportHuggingFace
from vlm_ocr.callbacks.lr_monitor import StepLearningRateMonitor
from vlm_ocr.callbacks.nonfinite_guard import NonFiniteGuard
from vlm_ocr.callbacks.parameter_summary import ParameterSummary
from vlm_ocr.callbacks.prediction_writer import PredictionWriter
from vlm_ocr.callbacks.preemption import Preemption
from vlm_ocr.callbacks.progress import StepProgressBar
from vlm_ocr.callbacks.resumable_checkpoint import ResumableCheckpoint
from vlm_ocr.callbacks.telemetry import Telemetry
from vlm_ocr.callbacks.validate_before_fit import ValidateBeforeFit

__all__ = [
    "ExportHuggingFace",
    "GenerationMetrics",
    "NonFiniteGuard",
    "ParameterSummary",
    "PredictionWriter",
    "Preemption",
    "ResumableCSVLogger",
    "ResumableCheckpoint",
    "StepLearningRateMonitor",
    "StepProgressBar",
    "Telemetry",
    "ValidateBeforeFit",
]
