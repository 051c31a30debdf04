"""GenerationMetrics: every N validations, generate on fixed pages of each eval set, log scores and a table."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from vlm_ocr.data.collate import Collator
from vlm_ocr.data.interface import PageData, page_data
from vlm_ocr.data.processor import IGNORE_INDEX
from vlm_ocr.eval.metrics import DatasetScores
from vlm_ocr.model.generate import GenerationSpec, generate_markdown
from vlm_ocr.pages.files import atomic_write_text
from vlm_ocr.pages.pdf import RenderSpec, render_page

TABLE_COLUMNS = ["dataset", "image", "markdown_path", "reference", "prediction", "cer", "ned", "front_matter_accuracy"]
TABLE_COLUMNS += ["repetitive", "finish_reason"]


def prompt_only(sample: dict[str, Any]) -> dict[str, Any]:
    """The prompt part of a training sample (its labels are IGNORE_INDEX over the prompt), for generation."""
    prompt_len = int((sample["labels"] == IGNORE_INDEX).long().cumprod(0).sum())
    prompt: dict[str, Any] = {
        key: sample[key][:prompt_len] for key in ("input_ids", "attention_mask", "mm_token_type_ids") if key in sample
    }
    # mm_token_type_ids (when the processor makes it) marks the image tokens: without it the model's rope
    # falls back to 1-D positions and in-loop answers differ from predict's
    return {
        **prompt,
        "pixel_values": sample["pixel_values"],
        "image_grid_thw": sample["image_grid_thw"],
        "markdown_path": sample["markdown_path"],
    }


def reference_text(sample: dict[str, Any], tokenizer: Any) -> str:
    """The sample's answer: FormatTarget's `target`, else its labels decoded."""
    if "target" in sample:
        return sample["target"]
    labels = sample["labels"]
    return tokenizer.decode(labels[labels != IGNORE_INDEX].tolist(), skip_special_tokens=True).strip()


@contextmanager
def inference_mode(trainer: L.Trainer, pl_module: L.LightningModule) -> Iterator[None]:
    """Eval mode, eager (a torch.compile'd forward would recompile for every length) and the trainer's precision.

    Every submodule's own train/eval flag is restored afterwards (a frozen tower may be in eval mode).
    """
    modes = [(module, module.training) for module in pl_module.modules()]
    pl_module.eval()
    try:
        with torch.compiler.set_stance("force_eager"), trainer.precision_plugin.forward_context():
            yield
    finally:
        for module, training in modes:
            module.training = training


class GenerationMetrics(L.Callback):
    """Generates answers for fixed pages of every eval dataset and scores them against the references.

    Logs `val/<dataset>/<metric>` (cer, wer, ned, bleu, front_matter_accuracy and one `<field>_accuracy`
    per field, front_matter_parse_failure_rate, stop_share, repetition_rate; see `vlm_ocr.eval.metrics`),
    writes every page to `<log dir>/generations/step<global step>.jsonl` (the predictions.jsonl fields plus
    reference and per-page metrics) and, with a WandbLogger, logs a `val/generations` table with page
    thumbnails. Generation runs on rank zero only, with the unwrapped model (not for FSDP-sharded models).

    Args:
        every_n_validations: run at the first validation (not the sanity check) and every n-th one after.
        samples_per_dataset: pages per eval dataset: the first usable ones in index order, or a seeded random
            choice (see `seed`); the same pages every time.
        seed: seed of the random choice of pages; None takes them in index order.
        max_new_tokens: most tokens per page (None: the model's `generation.max_new_tokens`).
        batch_size: pages per generate call.
        table_rows: pages per dataset in the W&B table (the JSONL file has all of them).
        thumbnail_size: longest side in pixels of the page images in the W&B table.
    """

    def __init__(
        self,
        every_n_validations: int = 1,
        samples_per_dataset: int = 8,
        seed: int | None = None,
        max_new_tokens: int | None = None,
        batch_size: int = 4,
        table_rows: int = 4,
        thumbnail_size: int = 512,
    ):
        if every_n_validations < 1 or samples_per_dataset < 1 or batch_size < 1:
            raise ValueError("every_n_validations, samples_per_dataset and batch_size must be at least 1")
        self.every_n_validations = every_n_validations
        self.samples_per_dataset = samples_per_dataset
        self.seed = seed
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.table_rows = table_rows
        self.thumbnail_size = thumbnail_size
        self.validations = 0
        self.chosen: dict[str, list[int]] = {}

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.validations += 1
        datamodule = page_data(trainer.datamodule)
        if (self.validations - 1) % self.every_n_validations or datamodule is None or not datamodule.eval_sets:
            return
        if not trainer.is_global_zero:
            return
        rows: list[dict[str, Any]] = []
        with inference_mode(trainer, pl_module):
            for name, dataset in zip(datamodule.eval_names, datamodule.eval_sets, strict=True):
                summary, dataset_rows = self.evaluate(name, dataset, pl_module, datamodule)
                rows += dataset_rows
                for metric, value in summary.items():
                    pl_module.log(f"val/{name}/{metric}", value, rank_zero_only=True, add_dataloader_idx=False)
                rank_zero_info(f"generation on {len(dataset_rows)} {name} pages: {summary}")
        for row in rows:
            row["step"] = trainer.global_step
        self.write_table(trainer, rows)

    def spec(self, pl_module: L.LightningModule) -> GenerationSpec:
        model_spec = getattr(pl_module, "generation", None) or GenerationSpec()
        return GenerationSpec(max_new_tokens=self.max_new_tokens or model_spec.max_new_tokens)  # greedy

    def pick(self, name: str, dataset: Any) -> list[dict[str, Any]]:
        """The fixed pages: chosen on the first call, reloaded by index afterwards."""
        if name in self.chosen:
            return [s for s in (dataset[(0, i)] for i in self.chosen[name]) if "dropped" not in s]
        order = list(range(len(dataset)))
        if self.seed is not None:
            random.Random(self.seed).shuffle(order)
        picked: list[tuple[int, dict[str, Any]]] = []
        for index in order[: max(4 * self.samples_per_dataset, 32)]:  # bounded: a mostly dropped set ends early
            sample = dataset[(0, index)]
            if "dropped" not in sample:
                picked.append((index, sample))
            if len(picked) == self.samples_per_dataset:
                break
        if len(picked) < min(self.samples_per_dataset, len(dataset)):
            rank_zero_warn(f"{name}: only {len(picked)} usable pages for generation metrics")
        self.chosen[name] = [index for index, _ in picked]
        return [sample for _, sample in picked]

    def evaluate(
        self, name: str, dataset: Any, pl_module: L.LightningModule, datamodule: PageData
    ) -> tuple[dict[str, float], list[dict[str, Any]]]:
        tokenizer, inputs = datamodule.processor.tokenizer, datamodule.inputs
        assert inputs is not None, "the data module is set up before validation"
        collate = Collator(inputs.pad_id, "left")
        scores, rows = DatasetScores(), list[dict[str, Any]]()
        samples = self.pick(name, dataset)
        for start in range(0, len(samples), self.batch_size):
            chunk = samples[start : start + self.batch_size]
            batch = collate([prompt_only(s) for s in chunk])
            on_device = {k: v.to(pl_module.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            results = generate_markdown(pl_module.model, tokenizer, on_device, self.spec(pl_module))
            for sample, result in zip(chunk, results, strict=True):
                reference = reference_text(sample, tokenizer)
                score = scores.update(result["text"], reference, result["finish_reason"])
                row = {"dataset": name, "source": str(sample["pdf_path"]), "page": 1}
                row.update(markdown_path=str(sample["markdown_path"]), **result, reference=reference)
                row.update(score.as_dict())
                if len(rows) < self.table_rows:
                    row["_image"] = sample.get("image")  # the page as the model saw it
                rows.append(row)
        return scores.compute(), rows

    def write_table(self, trainer: L.Trainer, rows: list[dict[str, Any]]) -> None:
        folder = Path(trainer.log_dir or trainer.default_root_dir) / "generations"
        path = folder / f"step{trainer.global_step:07d}.jsonl"
        lines = [json.dumps({k: v for k, v in row.items() if k != "_image"}, ensure_ascii=False) for row in rows]
        atomic_write_text(path, "".join(line + "\n" for line in lines))
        tables = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        if tables:
            data = [self.table_row(row) for row in rows if "_image" in row]
            for logger in tables:
                logger.log_table("val/generations", columns=TABLE_COLUMNS, data=data, step=trainer.global_step)

    def table_row(self, row: dict[str, Any]) -> list[Any]:
        import wandb

        image = row["_image"]
        if image is None:
            image = render_page(row["source"], 0, RenderSpec(longest_side=self.thumbnail_size, min_dpi=1.0))
        image = image.copy()
        image.thumbnail((self.thumbnail_size, self.thumbnail_size))
        values = {**row, "image": wandb.Image(image), "prediction": row["text"]}
        return [values[column] for column in TABLE_COLUMNS]
