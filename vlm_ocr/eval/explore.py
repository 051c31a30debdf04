"""Exploring a predictions JSONL: per-row scores, filters, diffs, page images, per-dataset summaries, plots.

Reads PredictionWriter's predictions.jsonl (source, page, text, finish_reason, ... and, for eval pages,
dataset, reference, markdown_path) and GenerationMetrics' generations/step*.jsonl tables alike. Used by
notebooks/explore_predictions.ipynb.
"""

from __future__ import annotations

import base64
import difflib
import html
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from vlm_ocr.eval.metrics import DatasetScores, is_repetitive, read_markdown, score_page
from vlm_ocr.pages.front_matter import FRONT_MATTER_KEYS
from vlm_ocr.pages.pdf import RenderSpec, render_page

TEXT_METRICS = ("cer", "wer", "ned", "bleu")
ROW_COLUMNS = ("dataset", "source", "page", "finish_reason", "tokens_out", "seconds", *TEXT_METRICS)
ROW_COLUMNS += ("front_matter_parsed", "front_matter_accuracy", "repetitive")
SUMMARY_METRICS = ("cer", "wer", "ned", "bleu", "front_matter_accuracy", "stop_share", "repetition_rate")
_ANY = object()


def _reference(record: dict[str, Any]) -> str | None:
    """The record's reference Markdown: its `reference` field, else the file at its markdown_path."""
    if isinstance(record.get("reference"), str):
        return record["reference"]
    path = record.get("markdown_path")
    if isinstance(path, str) and Path(path).is_file():
        return Path(path).read_text(encoding="utf-8")
    return None


def load_predictions(path: str | Path, score: bool = True) -> pd.DataFrame:
    """One row per JSONL line with columns text, reference (None without one), dataset, ... and the scores.

    Args:
        path: a predictions JSONL file.
        score: add per-row scores (`score_rows`).
    """
    with open(path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    for record in records:
        if "text" not in record and "prediction" in record:
            record["text"] = record.pop("prediction")
        record["reference"] = _reference(record)
        record.setdefault("dataset", "predict")
    frame = pd.DataFrame.from_records(records)
    for column in ("text", "reference", "source", "page", "finish_reason", "markdown_path", "error"):
        if column not in frame:
            frame[column] = None
    return score_rows(frame) if score else frame


def _row_scores(text: str | None, reference: str | None, finish_reason: str | None) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    finish = finish_reason if isinstance(finish_reason, str) else None
    if isinstance(reference, str):
        row = score_page(text, reference, finish).as_dict()
        expected = read_markdown(reference)[0]
        row.update({f"ref_{key}": getattr(expected, key, None) for key in FRONT_MATTER_KEYS})
    else:
        row = {"repetitive": is_repetitive(text), "stopped": None if finish is None else finish == "stop"}
    predicted = read_markdown(text)[0]
    row["front_matter_parsed"] = predicted is not None
    row.update({f"pred_{key}": getattr(predicted, key, None) for key in FRONT_MATTER_KEYS})
    return row


def score_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Add per-row scores (see vlm_ocr.eval.metrics) and the predicted (`pred_*`) and reference (`ref_*`)
    front-matter fields; rows without a reference get only front_matter_parsed, repetitive and stopped."""
    scores = [
        _row_scores(text, reference, finish)
        for text, reference, finish in zip(frame["text"], frame["reference"], frame["finish_reason"], strict=True)
    ]
    extra = pd.DataFrame.from_records(scores, index=frame.index)
    # The same columns with or without references, so filters and plots work on any file.
    always = [*TEXT_METRICS, "front_matter_accuracy", "front_matter_parsed", "repetitive", "stopped"]
    always += [f"{prefix}{key}" for key in FRONT_MATTER_KEYS for prefix in ("pred_", "ref_")]
    always += [f"{key}_correct" for key in FRONT_MATTER_KEYS]
    for column in always:
        if column not in extra:
            extra[column] = None
    return frame.drop(columns=[c for c in extra.columns if c in frame.columns]).join(extra)


def overview(frame: pd.DataFrame) -> pd.DataFrame:
    """The main columns of the rows (the texts left out)."""
    return frame[[c for c in ROW_COLUMNS if c in frame]]


def sort_by_metric(frame: pd.DataFrame, metric: str, descending: bool = True) -> pd.DataFrame:
    """Rows ordered by a metric (worst first for error rates with the default), rows without it last."""
    values = pd.to_numeric(frame[metric], errors="coerce")
    return frame.loc[values.sort_values(ascending=not descending, na_position="last").index]


def filter_by_metric(frame: pd.DataFrame, metric: str, above: float | None = None, below: float | None = None):
    """Rows whose metric is >= above and <= below (rows without the metric are left out)."""
    values = pd.to_numeric(frame[metric], errors="coerce")
    keep = values.notna()
    if above is not None:
        keep &= values >= above
    if below is not None:
        keep &= values <= below
    return frame[keep]


def filter_by_front_matter(frame: pd.DataFrame, field: str, value: Any = _ANY, wrong: bool = False):
    """Rows whose predicted front-matter `field` equals `value`, and/or (wrong=True) differs from the reference.

    A prediction whose front matter does not parse counts as wrong on every field.
    """
    if field not in FRONT_MATTER_KEYS:
        raise ValueError(f"unknown front-matter field {field!r}; one of {FRONT_MATTER_KEYS}")
    keep = pd.Series(True, index=frame.index)
    if value is not _ANY:
        keep &= frame[f"pred_{field}"].map(lambda v: v == value).astype(bool)
    if wrong:
        column = f"{field}_correct"
        correct = frame[column] if column in frame else pd.Series(None, index=frame.index)
        keep &= correct.map(lambda v: not pd.isna(v) and not v).astype(bool)
    return frame[keep]


def front_matter_table(frame: pd.DataFrame, field: str) -> pd.DataFrame:
    """Counts of predicted (rows) against reference (columns) values of a front-matter field."""
    scored = frame[frame["reference"].map(lambda r: isinstance(r, str))]
    predicted = scored[f"pred_{field}"].map(str).where(scored["front_matter_parsed"] == True, "(unparsed)")  # noqa: E712
    predicted = predicted.rename("predicted")
    expected = scored[f"ref_{field}"].map(str).rename("reference")
    return pd.crosstab(predicted, expected)


def diff_html(prediction: str, reference: str, context: int = 3) -> str:
    """A unified diff from reference to prediction as HTML: removed lines red, added lines green."""
    lines = difflib.unified_diff(
        reference.splitlines(), prediction.splitlines(), "reference", "prediction", n=context, lineterm=""
    )
    colors = {"+": "#e6ffec", "-": "#ffebe9", "@": "#ddf4ff"}
    out = []
    for line in lines:
        color = colors.get(line[:1], "transparent") if not line.startswith(("+++", "---")) else "#f6f8fa"
        out.append(f'<div style="background:{color}">{html.escape(line) or "&nbsp;"}</div>')
    body = "".join(out) or "<div>(identical)</div>"
    return f'<pre style="font-size:12px;white-space:pre-wrap">{body}</pre>'


def page_image(source: str | Path, page: int = 1, longest_side: int = 768) -> Image.Image:
    """Render page `page` (1-based, as in predictions files) of a PDF, its longest side `longest_side` pixels."""
    image = render_page(source, page - 1, RenderSpec(longest_side=longest_side, page_box="crop", min_dpi=1.0))
    image.thumbnail((longest_side, longest_side))  # the render may round up by a pixel
    return image


def _image_html(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%;border:1px solid #ccc">'


def _pre(title: str, text: str | None) -> str:
    body = html.escape(text if isinstance(text, str) else "")
    pre = f"<pre style='white-space:pre-wrap;font-size:12px'>{body}</pre>"
    return f"<div style='flex:1;min-width:0'><b>{title}</b>{pre}</div>"


def row_html(row: pd.Series | dict[str, Any], image_side: int = 512) -> str:
    """The page image beside the prediction and reference, the scores, and the diff, as HTML."""
    row = dict(row)
    scores = ", ".join(f"{m}={row[m]:.3f}" for m in TEXT_METRICS if isinstance(row.get(m), float))
    head = f"<h4>{html.escape(str(row.get('dataset')))}: {html.escape(str(row.get('source')))} p{row.get('page')}</h4>"
    head += f"<div>{html.escape(scores)} finish_reason={html.escape(str(row.get('finish_reason')))}</div>"
    try:
        image = _image_html(page_image(row["source"], int(row.get("page") or 1), image_side))
    except (OSError, ValueError, KeyError, TypeError) as err:
        image = f"<i>no image: {html.escape(str(err))}</i>"
    panes = f"<div style='flex:1;min-width:0'>{image}</div>" + _pre("prediction", row.get("text"))
    if isinstance(row.get("reference"), str):
        panes += _pre("reference", row["reference"])
    out = head + f"<div style='display:flex;gap:12px'>{panes}</div>"
    if isinstance(row.get("reference"), str) and isinstance(row.get("text"), str):
        out += diff_html(row["text"], row["reference"])
    return out


def show_rows(frame: pd.DataFrame, limit: int = 3, image_side: int = 512) -> None:
    """Display the first `limit` rows in a notebook (image, prediction, reference, diff)."""
    from IPython.display import HTML, display

    for _, row in frame.head(limit).iterrows():
        display(HTML(row_html(row, image_side)))


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: page counts, the logged metrics (as GenerationMetrics computes them) and mean tokens/seconds."""
    summaries = {}
    for name, group in frame.groupby("dataset", sort=True):
        answered = group[group["text"].map(lambda t: isinstance(t, str))]
        scores = DatasetScores()
        for text, reference, finish in zip(
            answered["text"], answered["reference"], answered["finish_reason"], strict=True
        ):
            if isinstance(reference, str):
                scores.update(text, reference, finish if isinstance(finish, str) else None)
        summary: dict[str, Any] = {"pages": len(answered), "errors": len(group) - len(answered)}
        summary["scored"] = scores.pages
        summary.update(scores.compute())
        # Over every answered page, with or without a reference:
        finished = answered["finish_reason"].map(lambda f: isinstance(f, str))
        if finished.any():
            summary["stop_share"] = float((answered["finish_reason"][finished] == "stop").mean())
        if len(answered):
            summary["repetition_rate"] = float(answered["text"].map(is_repetitive).mean())
            unparsed = answered["text"].map(lambda text: read_markdown(text)[0] is None)
            summary["front_matter_parse_failure_rate"] = float(unparsed.mean())
        for column in ("tokens_out", "seconds"):
            if column in answered and answered[column].notna().any():
                summary[f"mean_{column}"] = float(pd.to_numeric(answered[column]).mean())
        summaries[name] = summary
    return pd.DataFrame.from_dict(summaries, orient="index")


def plot_metric_distributions(frame: pd.DataFrame, metrics: Iterable[str] = TEXT_METRICS, bins: int = 20):
    """One histogram per metric, one series per dataset (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    metrics = [m for m in metrics if m in frame and pd.to_numeric(frame[m], errors="coerce").notna().any()]
    figure = Figure(figsize=(4 * max(len(metrics), 1), 3), layout="constrained")
    for axes, metric in zip(figure.subplots(1, max(len(metrics), 1), squeeze=False)[0], metrics, strict=False):
        edges = np.histogram_bin_edges(pd.to_numeric(frame[metric], errors="coerce").dropna(), bins=bins)
        for name, group in frame.groupby("dataset", sort=True):
            values = pd.to_numeric(group[metric], errors="coerce").dropna()
            if len(values):
                axes.hist(values, bins=edges, alpha=0.6, label=str(name))
        axes.set_title(metric)
        axes.set_ylabel("pages")
    if metrics:
        figure.axes[0].legend(fontsize=8)
    return figure


def plot_dataset_summary(summary: pd.DataFrame, metrics: Iterable[str] = SUMMARY_METRICS):
    """Grouped bars of the summary metrics per dataset (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    metrics = [m for m in metrics if m in summary and summary[m].notna().any()]
    figure = Figure(figsize=(max(6, 1.5 * len(metrics)), 3.5), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / max(len(summary), 1)
    for i, (name, row) in enumerate(summary.iterrows()):
        positions = [j + i * width for j in range(len(metrics))]
        axes.bar(positions, [row[m] for m in metrics], width=width, label=str(name))
    axes.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))], metrics, rotation=20)
    axes.legend(fontsize=8)
    return figure
