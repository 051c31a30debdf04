"""Checkpoints that are complete and verified or absent, and Lightning's checkpoint plugin over them (YAML names)."""

from vlm_ocr.checkpointing.checkpoint_io import AtomicCheckpointIO
from vlm_ocr.checkpointing.verified_files import CheckpointWriteError, CorruptCheckpoint

__all__ = ["AtomicCheckpointIO", "CheckpointWriteError", "CorruptCheckpoint"]
