"""A fit's curves from its metrics.csv (CSVLogger's): the losses and the in-loop generation metrics per step.

Used by notebooks/explore_predictions.ipynb beside the predicted pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

IN_LOOP = ("cer", "ned", "front_matter_accuracy", "front_matter_parse_failure_rate", "stop_share")
"""GenerationMetrics' `val/<dataset>/<name>` plotted beside the losses (all shares or rates: one 0-1 axis)."""


def newest(pattern: str, root: str | Path = ".") -> Path | None:
    """The most recently written file matching a glob `pattern` under `root` (None when none does): the last run's
    metrics.csv, the last predict's predictions.jsonl."""
    found = [path for path in Path(root).glob(pattern) if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime) if found else None


def load_metrics(path: str | Path) -> pd.DataFrame:
    """metrics.csv as one row per step (the logger writes train and validation values of a step on separate rows)."""
    frame = pd.read_csv(path)
    return frame.groupby("step", as_index=False).last().sort_values("step").reset_index(drop=True)


def curve_columns(metrics: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(loss columns: train/loss and every val/<dataset>/loss, in-loop metric columns present in the file)."""
    losses = [c for c in metrics.columns if c == "train/loss" or (c.startswith("val/") and c.endswith("/loss"))]
    in_loop = [c for c in metrics.columns if c.startswith("val/") and c.rsplit("/", 1)[-1] in IN_LOOP]
    return losses, in_loop


def plot_training(metrics: pd.DataFrame) -> Any:
    """Two panels over the optimizer steps: the losses, and the in-loop generation metrics (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    losses, in_loop = curve_columns(metrics)
    figure = Figure(figsize=(12, 4))
    loss_axis, metric_axis = figure.subplots(1, 2)
    for column in losses:
        points = metrics[["step", column]].dropna()
        style = "-" if column == "train/loss" else "o-"
        loss_axis.plot(points["step"], points[column], style, label=column, alpha=0.6 if style == "-" else 1.0)
    loss_axis.set(title="loss", xlabel="step", ylabel="cross-entropy per answer token")
    for column in in_loop:
        points = metrics[["step", column]].dropna()
        metric_axis.plot(points["step"], points[column], "o-", label=column.removeprefix("val/"))
    metric_axis.set(title="generation on eval pages (GenerationMetrics)", xlabel="step", ylim=(-0.05, 1.5))
    for axis in (loss_axis, metric_axis):
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    figure.tight_layout()
    return figure
