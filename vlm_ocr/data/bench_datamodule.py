"""BenchPageDataModule: olmOCR-Bench folders as GRPO pages, rendered and prompted exactly as the SFT pipeline."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import BatchSampler, Dataset

from vlm_ocr.bench.training_pages import BenchPage, BenchPages, read_bench_pages
from vlm_ocr.data.pipeline import PagePipeline
from vlm_ocr.data.processor import QwenInputs, load_processor
from vlm_ocr.data.sampler import EpochSampler, ResumableDataLoader, ShardedBatches
from vlm_ocr.data.transforms import BuildMessages, RenderPage
from vlm_ocr.errors import UsageError
from vlm_ocr.pages.files import atomic_write_text
from vlm_ocr.pages.pdf import PdfError

logger = logging.getLogger(__name__)
_LAYOUT = "pdfs/, test *.jsonl files, optionally claude_original/"


class BenchPromptDataset(Dataset):
    """One item per bench page: the page (tests, reference) and its prompt, built by the SFT pipeline's own steps
    (RenderPage's image, BuildMessages' instruction, QwenInputs' chat template and image processor). A page whose
    render fails mid-run becomes a `dropped` item (counted by the module), never an exception."""

    def __init__(self, pages: tuple[BenchPage, ...], render: RenderPage, messages: BuildMessages, inputs: QwenInputs):
        self.pages, self.render, self.messages, self.inputs = pages, render, messages, inputs

    def __len__(self) -> int:
        return len(self.pages)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        page = self.pages[item[1] if isinstance(item, tuple) else item]  # EpochSampler's (epoch, index)
        try:
            image = self.render.render(str(page.pdf_path), page.page - 1)
        except PdfError as err:
            return {"page": page, "dropped": f"{page.key}: {err.reason}"}
        prompt = self.inputs.prompt(self.messages({"image": image})["messages"], image)
        return {"page": page, "inputs": prompt, "image": image}


class PageList:
    """The bench pages of a batch, iterable and indexable but opaque to Lightning's batch traversal (the precision
    plugin's input cast and the device move rebuild sequences and dataclasses, and refuse frozen ones)."""

    def __init__(self, pages: list[BenchPage]):
        self._pages = tuple(pages)

    def __iter__(self) -> Any:
        return iter(self._pages)

    def __len__(self) -> int:
        return len(self._pages)

    def __getitem__(self, index: int) -> BenchPage:
        return self._pages[index]


def collate_pages(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch of pages: the prompts stay per page (the rollout engine pads them), dropped pages listed apart."""
    kept = [item for item in items if "dropped" not in item]
    return {
        "num_pages": len(kept),
        "pages": PageList([item["page"] for item in kept]),
        "inputs": [item["inputs"] for item in kept],
        "images": [item["image"] for item in kept],
        "dropped": [item["dropped"] for item in items if "dropped" in item],
    }


class BenchPageDataModule(L.LightningDataModule):
    """A PageData (vlm_ocr.data.interface) of olmOCR-Bench-format folders (`pdfs/`, test `*.jsonl`, optional
    `claude_original/`) as GRPO training pages: one item per (pdf, page) with all of that page's tests
    (vlm_ocr.bench.training_pages).

    Bad input is listed, never fatal mid-run: malformed test lines, tests naming a missing PDF or page, pages
    without tests and unreadable references are logged and written to `bench_report_<name>.jsonl` in the run
    folder; a missing folder, or one without a single usable page, stops the command with one line.

    Args:
        processor_path: hub id or folder of the processor (linked from model.pretrained).
        bench_root: the training bench folder.
        eval_bench_root: a held-out bench folder whose mean reward is validated (`val/reward`); None: none.
        render: the SFT pipeline's render step (its longest side, page box, cache); default RenderPage().
        prompt: the SFT pipeline's instruction step; default BuildMessages() (the recipe's v4 YAML prompt).
        batch_size: pages per training batch on each rank (each page brings its G completions).
        num_workers: DataLoader worker processes (rendering).
        data_seed: seed of the epoch shuffles.
        report_dir: where the bench reports go; default the trainer's log dir.
    """

    def __init__(
        self,
        processor_path: str,
        bench_root: str | None = None,
        eval_bench_root: str | None = None,
        render: RenderPage | None = None,
        prompt: BuildMessages | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        data_seed: int = 0,
        report_dir: str | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["render", "prompt"])
        for option, folder in (("bench_root", bench_root), ("eval_bench_root", eval_bench_root)):
            if folder is not None and not Path(folder).is_dir():
                raise UsageError(f"--data.{option} {folder}: no such folder; give an olmOCR-Bench folder ({_LAYOUT})")
        self.render = render or RenderPage()
        self.prompt = prompt or BuildMessages()
        self.inputs: QwenInputs | None = None
        self.train_set: BenchPromptDataset | None = None
        self.eval_set: BenchPromptDataset | None = None

    @property
    def eval_names(self) -> list[str]:
        return ["held_out"] if self.hparams.eval_bench_root else []

    @property
    def eval_sets(self) -> list[BenchPromptDataset]:
        return [self.eval_set] if self.eval_set is not None else []

    @property
    def processor(self) -> Any:
        return self.inputs.processor if self.inputs is not None else None

    @property
    def pipeline(self) -> PagePipeline:
        """The SFT pipeline's steps a bench page goes through: its render step and its messages."""
        return PagePipeline(render=self.render, messages=self.prompt)

    def _read(self, option: str, name: str) -> BenchPages:
        folder = getattr(self.hparams, option)
        if folder is None:
            raise UsageError(f"--data.{option} is not set: give an olmOCR-Bench folder ({_LAYOUT})")
        read = read_bench_pages(folder)
        if read.skipped:
            logger.warning(
                "%s: %d inputs left out (listed in bench_report_%s.jsonl), e.g. %s",
                folder,
                len(read.skipped),
                name,
                read.skipped[0],
            )
        report_dir = self.hparams.report_dir or (self.trainer.log_dir if self.trainer else None)
        if report_dir:
            lines = [json.dumps({"where": s.where, "reason": s.reason}) for s in read.skipped]
            atomic_write_text(Path(report_dir) / f"bench_report_{name}.jsonl", "".join(f"{line}\n" for line in lines))
        return read

    def _dataset(self, read: BenchPages) -> BenchPromptDataset:
        return BenchPromptDataset(read.pages, self.render, self.prompt, self.inputs)

    def setup(self, stage: str | None = None) -> None:
        if self.inputs is None:
            self.inputs = QwenInputs(load_processor(self.hparams.processor_path))
        if stage in ("fit", None) and self.train_set is None:
            self.train_set = self._dataset(self._read("bench_root", "train"))
        if stage in ("fit", "validate", None) and self.eval_set is None and self.hparams.eval_bench_root:
            self.eval_set = self._dataset(self._read("eval_bench_root", "eval"))
        if stage == "validate" and self.eval_set is None:
            raise UsageError("validate needs --data.eval_bench_root: a held-out bench folder to score")

    def _loader(self, dataset: BenchPromptDataset, shuffle: bool) -> ResumableDataLoader:
        """Batches dealt to the data-parallel ranks (a page's group never spans ranks); the position in the epoch
        goes into checkpoints, for exact resume."""
        hp = self.hparams
        shards = (self.trainer.distributed_sampler_kwargs if self.trainer is not None else None) or {}
        items = EpochSampler(len(dataset), seed=hp.data_seed, shuffle=shuffle)
        batches = ShardedBatches(
            BatchSampler(items, hp.batch_size, drop_last=False), shards.get("rank", 0), shards.get("num_replicas", 1)
        )
        return ResumableDataLoader(
            dataset,
            batches,
            num_workers=hp.num_workers,
            collate_fn=collate_pages,
            persistent_workers=hp.num_workers > 0,
        )

    def train_dataloader(self) -> ResumableDataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> list[ResumableDataLoader]:
        return [self._loader(self.eval_set, shuffle=False)] if self.eval_set is not None else []

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        return batch  # pages stay Python objects; the rollout moves the prompt tensors to the model's device

    def page_prompt_settings(self) -> tuple[Any, list[dict[str, Any]]]:
        """How a page becomes a prompt (the RenderSpec and the chat messages), for the exported model's settings."""
        return self.render.spec, self.prompt({})["messages"]
