"""Running long jobs: verified atomic checkpoints with a fallback on load, and FSDP2 sharding (names for YAML)."""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AtomicCheckpointIO": "vlm_ocr.training.checkpoint_io",
    "CheckpointWriteError": "vlm_ocr.training.checkpoint_files",
    "CorruptCheckpoint": "vlm_ocr.training.checkpoint_files",
    "FSDP2Strategy": "vlm_ocr.training.fsdp",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # imported on first use: checkpoint_files alone needs only torch
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
