"""Write predictions: one Markdown file per page and one predictions.jsonl line per page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

from vlm_ocr.data.front_matter import FrontMatterError, parse_page_markdown
from vlm_ocr.prep.files import atomic_write_text


def page_markdown_path(out_dir: Path, source: str, page: int) -> Path:
    return out_dir / f"{Path(source).stem}_pg{page}.md"


class PredictionWriter(BasePredictionWriter):
    """Writes `<out_dir>/<pdf stem>_pg<page>.md` and `<out_dir>/predictions.jsonl`.

    Args:
        out_dir: output folder.
    """

    def __init__(self, out_dir: str = "predictions"):
        super().__init__(write_interval="batch")
        self.out_dir = Path(out_dir)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "predict":
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "predictions.jsonl").write_text("")

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
                atomic_write_text(page_markdown_path(self.out_dir, row["source"], row["page"]), row["text"])
            lines.append(json.dumps(row, ensure_ascii=False))
        with open(self.out_dir / "predictions.jsonl", "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
