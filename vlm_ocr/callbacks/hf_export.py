"""At the end of fit, write the trained model and its processor as a Hugging Face folder."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from vlm_ocr.model.loading import load_processor
from vlm_ocr.model.peft import has_lora, merged_state_dict

logger = logging.getLogger(__name__)


class ExportHuggingFace(L.Callback):
    """Save `save_pretrained` output (model + processor) that `from_pretrained` loads.

    Args:
        dirname: folder name inside the run's log dir (or an absolute path).
    """

    def __init__(self, dirname: str = "hf_model"):
        self.dirname = dirname
        self.path: Path | None = None

    def _target(self, trainer: L.Trainer) -> Path:
        path = Path(self.dirname)
        return path if path.is_absolute() else Path(trainer.log_dir or trainer.default_root_dir) / path

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        target = self._target(trainer)
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        model = getattr(pl_module.model, "_orig_mod", pl_module.model)
        if has_lora(model):  # the plain model with the adapters merged; the training model keeps them
            model.save_pretrained(staging, state_dict=merged_state_dict(model))
        else:
            model.save_pretrained(staging)
        load_processor(pl_module.hparams.pretrained).save_pretrained(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # a reader never sees a half-written export
        self.path = target
        logger.info("exported Hugging Face model to %s", target)
        metrics = Path(trainer.log_dir or "") / "metrics.csv"
        print(f"run: {trainer.log_dir}\nmetrics: {metrics if metrics.exists() else trainer.logger}\nmodel: {target}")
