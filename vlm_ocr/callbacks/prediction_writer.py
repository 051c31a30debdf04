"""Write predictions: one Markdown file per page and one predictions.jsonl line per page."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from vlm_ocr.errors import UsageError
from vlm_ocr.pages.files import atomic_write_text
from vlm_ocr.pages.front_matter import FrontMatterError, parse_page_markdown

logger = logging.getLogger(__name__)


class PredictionWriter(BasePredictionWriter):
    """Writes `<out_dir>/<pdf stem>_pg<page>.md` and `<out_dir>/predictions.jsonl` (whose `output` field names the
    Markdown file of each page). A PDF whose name another PDF of the run already took gets
    `<stem>-<8 hex digits of its path's hash>_pg<page>.md`, so two `report.pdf` in different folders both keep
    their pages. Each run writes a folder of its own: when `out_dir` already holds files (an earlier run's), this
    run writes `<out_dir>-2` (or the next free number) and says so; nothing of an earlier run is overwritten.

    The run ends with a summary of the pages written, dropped by a pipeline step and unreadable; a run that wrote
    no page fails (UsageError) instead of succeeding with an empty index.

    Args:
        out_dir: output folder (of the first run; later runs write beside it).
    """

    def __init__(self, out_dir: str = "predictions"):
        super().__init__(write_interval="batch")
        self.out_dir = Path(out_dir)
        self.run_dir = self.out_dir  # where this run writes: out_dir, or the next free `<out_dir>-N`
        self._names: dict[str, str] = {}  # source PDF -> file name prefix of its pages
        self._taken: set[str] = set()
        self._pages = 0
        self._problems: list[dict[str, Any]] = []  # the error rows: pages dropped by a step or unreadable

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "predict":
            free = self.free_folder() if trainer.is_global_zero else None
            self.run_dir = Path(trainer.strategy.broadcast(free))
            if self.run_dir != self.out_dir:
                logger.warning("%s holds an earlier run's predictions: this run writes %s", self.out_dir, self.run_dir)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "predictions.jsonl").touch()
            self._names, self._taken, self._pages, self._problems = {}, set(), 0, []

    def free_folder(self) -> Path:
        """`out_dir` when it is absent or empty, else the first `<out_dir>-N` (N = 2, 3, ...) that is."""
        candidate, number = self.out_dir, 1
        while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
            number += 1
            candidate = self.out_dir.with_name(f"{self.out_dir.name}-{number}")
        return candidate

    def page_markdown_path(self, source: str, page: int) -> Path:
        """The page's Markdown file: named after the PDF, unique among the PDFs of this run."""
        if source not in self._names:
            stem = Path(source).stem
            if stem in self._taken:
                stem = f"{stem}-{hashlib.sha1(str(Path(source).absolute()).encode()).hexdigest()[:8]}"
            self._taken.add(stem)
            self._names[source] = stem
        return self.run_dir / f"{self._names[source]}_pg{page}.md"

    def write_on_batch_end(
        self,
        trainer,
        pl_module,
        prediction: list[dict[str, Any]],
        batch_indices,
        batch,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        lines = []
        for record in prediction:
            row = dict(record)
            if "text" in row:
                try:
                    page = parse_page_markdown(row["text"], row["source"])
                    row["front_matter"] = {k: v for k, v in vars(page).items() if k != "natural_text"}
                except (FrontMatterError, ValueError, TypeError) as err:
                    row["front_matter_error"] = str(err)
                path = self.page_markdown_path(row["source"], row["page"])
                atomic_write_text(path, row["text"])
                row["output"] = path.name
                self._pages += 1
            elif "error" in row:
                self._problems.append(row)
            lines.append(json.dumps(row, ensure_ascii=False))
        with open(self.run_dir / "predictions.jsonl", "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pages = int(trainer.strategy.reduce(torch.tensor(float(self._pages)), reduce_op="sum"))
        index = self.run_dir / "predictions.jsonl"
        unreadable = {row["source"]: row["error"] for row in self._problems if row.get("step") == "RenderPage"}
        steps = Counter(row.get("step") for row in self._problems if row.get("step") != "RenderPage")
        notes = [f"{count} pages dropped by {step}" for step, count in sorted(steps.items())]
        if unreadable:
            first = next(iter(unreadable.items()))
            notes.append(f"{len(unreadable)} PDFs could not be read (first: {first[0]}: {first[1]})")
        summary = f"{pages} pages in {self.run_dir}/ (index: {index})" + "".join(f"; {note}" for note in notes)
        if pages == 0:
            raise UsageError(f"no page was predicted: {summary}; check --data.predict_paths")
        if trainer.is_global_zero:
            print(f"predictions: {summary}")
