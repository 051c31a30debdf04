"""At the end of fit, write the trained model, its processor and its inference settings as a Hugging Face folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from vlm_ocr.data.interface import page_data
from vlm_ocr.data.processor import load_processor
from vlm_ocr.export.folder import staged_folder
from vlm_ocr.export.serving import inference_settings, write_serving_files
from vlm_ocr.model.peft import has_lora, merged_state_dict

logger = logging.getLogger(__name__)

CHECKPOINT_KEY = "vlm_ocr_inference"
"""Where checkpoints carry the inference settings, for `python -m vlm_ocr export`."""


def run_inference_settings(trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any] | None:
    """Prompt, render size and generation settings of this run (None without the project's data module)."""
    datamodule = page_data(trainer.datamodule)
    if datamodule is None:
        return None
    render, messages = datamodule.page_prompt_settings()
    return inference_settings(messages, render, pl_module.generation)


def metrics_location(trainer: L.Trainer) -> str:
    """Where a person finds the run's metrics: the CSV file, the W&B run's URL (its folder offline), ..."""
    run = trainer.logger
    if isinstance(run, CSVLogger):
        return str(Path(run.log_dir) / "metrics.csv")
    if isinstance(run, WandbLogger):
        experiment = run.experiment
        url = getattr(experiment, "url", None)  # None offline
        folder = getattr(experiment, "dir", None)  # <save_dir>/wandb/<run>/files
        return url or (str(Path(folder).parent) if folder else str(run.save_dir))
    if run is None:
        return "(no logger)"
    return str(run.log_dir or run.save_dir)


class ExportHuggingFace(L.Callback):
    """Save `save_pretrained` output (model + processor, plus preprocessor_config.json, chat_template.json and the
    inference settings in vlm_ocr_inference.json) that `from_pretrained` and vLLM load. Checkpoints carry the
    inference settings too, so `python -m vlm_ocr export` writes them.

    Args:
        dirname: folder name inside the run's log dir (or an absolute path).
    """

    def __init__(self, dirname: str = "hf_model"):
        self.dirname = dirname
        self.path: Path | None = None

    def _target(self, trainer: L.Trainer) -> Path:
        path = Path(self.dirname)
        return path if path.is_absolute() else Path(trainer.log_dir or trainer.default_root_dir) / path

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        settings = run_inference_settings(trainer, pl_module)
        if settings is not None:
            checkpoint[CHECKPOINT_KEY] = settings

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        target = self._target(trainer)
        model = getattr(pl_module.model, "_orig_mod", pl_module.model)
        with staged_folder(target, overwrite=True) as staging:  # a reader never sees a half-written export
            if has_lora(model):  # the plain model with the adapters merged; the training model keeps them
                model.save_pretrained(staging, state_dict=merged_state_dict(model))
            else:
                model.save_pretrained(staging)
            processor = load_processor(pl_module.hparams.pretrained)
            processor.save_pretrained(staging)
            write_serving_files(staging, processor, run_inference_settings(trainer, pl_module), model)
        self.path = target
        logger.info("exported Hugging Face model to %s", target)
        print(f"run: {trainer.log_dir}\nmetrics: {metrics_location(trainer)}\nmodel: {target}")
