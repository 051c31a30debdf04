"""AtomicCheckpointIO: Lightning's checkpoint plugin over verified, atomic checkpoint files."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import _load as lightning_load

from vlm_ocr.checkpointing.verified_files import RUN_KEY, record_path, save_verified, usable_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO: verified, atomic checkpoint files, and a fallback to the previous valid one on load.

    Args:
        fallback: when the checkpoint to load is corrupt or partial, load the newest valid checkpoint in the
            same folder instead (logged as an error plus the path used); False raises instead.
    """

    def __init__(self, fallback: bool = True):
        self.fallback = fallback
        self.run_id: str | None = None  # this run's, or the one of the checkpoint it resumed from

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        self.run_id = self.run_id or uuid.uuid4().hex[:12]
        save_verified({**checkpoint, RUN_KEY: self.run_id}, Path(path))

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        chosen = usable_checkpoint(Path(path), self.fallback)
        checkpoint = lightning_load(chosen, map_location=map_location, weights_only=weights_only)
        self.run_id = checkpoint.get(RUN_KEY) or self.run_id  # a resumed run keeps its id: its fallbacks stay in it
        return checkpoint

    def remove_checkpoint(self, path: Any) -> None:
        super().remove_checkpoint(path)
        record_path(Path(path)).unlink(missing_ok=True)
