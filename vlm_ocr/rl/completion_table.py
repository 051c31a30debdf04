"""A few pages' completions with their rewards and each test's verdict: a W&B table when the run logs to W&B,
else lines of `completions.jsonl` in the run folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlm_ocr.bench.training_pages import BenchPage
from vlm_ocr.rl.rewards import Reward

COLUMNS = ["step", "page", "completion", "reward", "components", "verdicts", "text"]


def table_rows(step: int, pages: Sequence[BenchPage], texts: Sequence[str], rewards: Sequence[Reward]) -> list[list]:
    """One row per completion of `pages` (their groups consecutive in texts and rewards)."""
    group = len(texts) // max(len(pages), 1)
    rows = []
    for row, (text, reward) in enumerate(zip(texts, rewards, strict=True)):
        page = pages[row // group]
        verdicts = "; ".join(f"{v.test_id} ({v.test_type}): {'pass' if v.passed else 'fail'}" for v in reward.verdicts)
        components = json.dumps({k: v for k, v in reward.components.items()}, sort_keys=True)
        rows.append([step, page.key, row % group, reward.total, components, verdicts, text])
    return rows


def write_completions(logger: Any, folder: str | Path | None, rows: list[list]) -> None:
    """Log the rows as a W&B table (`train/completions`, the step's rows) or append them to completions.jsonl."""
    if hasattr(logger, "log_table"):
        logger.log_table(key="train/completions", columns=COLUMNS, data=rows)
        return
    if folder is None:
        return
    path = Path(folder) / "completions.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.writelines(json.dumps(dict(zip(COLUMNS, row, strict=True))) + "\n" for row in rows)
