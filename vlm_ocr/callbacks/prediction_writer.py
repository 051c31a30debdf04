"""Write predictions: one Markdown file per page and one predictions.jsonl line per page."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

from vlm_ocr.pages.files import atomic_write_text
from vlm_ocr.pages.front_matter import FrontMatterError, parse_page_markdown

logger = logging.getLogger(__name__)


class PredictionWriter(BasePredictionWriter):
    """Writes `<out_dir>/<pdf stem>_pg<page>.md` and `<out_dir>/predictions.jsonl` (whose `output` field names the
    Markdown file of each page). A PDF whose name another PDF of the run already took gets
    `<stem>-<8 hex digits of its path's hash>_pg<page>.md`, so two `report.pdf` in different folders both keep
    their pages.

    Args:
        out_dir: output folder.
    """

    def __init__(self, out_dir: str = "predictions"):
        super().__init__(write_interval="batch")
        self.out_dir = Path(out_dir)
        self._names: dict[str, str] = {}  # source PDF -> file name prefix of its pages
        self._taken: set[str] = set()
        self._pages = 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "predict":
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "predictions.jsonl").write_text("")
            self._names, self._taken, self._pages = {}, set(), 0

    def page_markdown_path(self, source: str, page: int) -> Path:
        """The page's Markdown file: named after the PDF, unique among the PDFs of this run."""
        if source not in self._names:
            stem = Path(source).stem
            if stem in self._taken:
                stem = f"{stem}-{hashlib.sha1(str(Path(source).absolute()).encode()).hexdigest()[:8]}"
            self._taken.add(stem)
            self._names[source] = stem
        return self.out_dir / f"{self._names[source]}_pg{page}.md"

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
            lines.append(json.dumps(row, ensure_ascii=False))
        with open(self.out_dir / "predictions.jsonl", "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            print(f"predictions: {self._pages} pages in {self.out_dir}/ (index: {self.out_dir / 'predictions.jsonl'})")
