import json
import os
import sys

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from vlm_ocr.eval import explore

NOTEBOOK = explore.Path(__file__).resolve().parents[2] / "notebooks" / "explore_predictions.ipynb"


def _front_matter(text):
    head, _, _ = text.partition("\n---\n")
    return head + "\n---\n"


@pytest.fixture
def predictions(tmp_path, sample_data_dir):
    """A predictions.jsonl like PredictionWriter writes for eval pages, with tiny-model-like answers."""
    eval_dir = sample_data_dir / "eval"

    def pair(kind):
        md = eval_dir / kind / f"{kind}_000.md"
        return md, md.read_text(), str(md.with_suffix(".pdf"))

    rows = []
    md, ref, pdf = pair("document")
    rows.append({"text": ref, "reference": ref, "finish_reason": "stop", "tokens_out": 120})  # perfect
    md, ref, pdf2 = pair("list")
    rows.append({"text": ref.replace("is_table: False", "is_table: True")[:-20], "reference": ref})
    rows[-1].update(finish_reason="stop", tokens_out=90)
    md, ref, pdf3 = pair("table")
    rows.append({"text": "---\nprimary_language: en\n---\n" + ref[-80:], "reference": ref, "finish_reason": "stop"})
    rows[-1]["front_matter_error"] = "front matter lacks is_rotation_valid"
    md, ref, pdf4 = pair("german")
    rows.append({"text": _front_matter(ref) + "Seite " * 60, "reference": ref, "finish_reason": "length"})
    sources = [(pdf, "document"), (pdf2, "list"), (pdf3, "table"), (pdf4, "german")]
    for row, (source, kind) in zip(rows, sources, strict=True):
        row.update(source=source, page=1, dataset="sample_eval", markdown_path=str(eval_dir / kind / f"{kind}_000.md"))
    md, ref, pdf = pair("blank")  # reference only through markdown_path
    rows.append({"source": pdf, "page": 1, "dataset": "blank_eval", "markdown_path": str(md), "text": ref})
    rows[-1].update(finish_reason="stop")
    md, ref, pdf = pair("equation")  # a predict page: no reference
    rows.append({"source": pdf, "page": 1, "text": "Just text.", "finish_reason": "length", "markdown_path": None})
    rows.append({"source": "missing.pdf", "page": -1, "markdown_path": None, "step": "RenderPage", "error": "gone"})
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_load_scores_rows_with_and_without_references(predictions):
    frame = explore.load_predictions(predictions)
    assert len(frame) == 7
    perfect, cut, broken, loop, blank, free, error = (frame.iloc[i] for i in range(7))
    assert perfect["cer"] == 0.0 and perfect["front_matter_accuracy"] == 1.0 and perfect["stopped"]
    assert 0 < cut["cer"] < 0.2 and cut["is_table_correct"] is False and cut["pred_is_table"] is True
    assert not broken["front_matter_parsed"] and broken["front_matter_accuracy"] == 0.0
    assert loop["repetitive"] and not loop["stopped"]
    assert blank["reference"] == blank["text"] and blank["bleu"] == 1.0  # read from markdown_path
    assert free["dataset"] == "predict" and pd.isna(free["reference"]) and pd.isna(free["cer"])
    assert free["front_matter_parsed"] is False and free["repetitive"] is False
    assert error["error"] == "gone" and pd.isna(error["front_matter_parsed"])


def test_filters_and_summary(predictions):
    frame = explore.load_predictions(predictions)
    assert list(explore.filter_by_metric(frame, "cer", above=0.5).index) == [2, 3]
    assert list(explore.filter_by_metric(frame, "cer", below=0.0).index) == [0, 4]
    assert list(explore.sort_by_metric(frame, "ned").index[:2]) == [3, 2]
    assert list(explore.filter_by_metric(frame, "repetitive", above=1).index) == [3]
    assert list(explore.filter_by_front_matter(frame, "is_table", wrong=True).index) == [1, 2]
    assert list(explore.filter_by_front_matter(frame, "primary_language", value="de").index) == [3]
    with pytest.raises(ValueError, match="unknown front-matter field"):
        explore.filter_by_front_matter(frame, "rotation")
    table = explore.front_matter_table(frame, "is_table")
    assert table.loc["(unparsed)", "True"] == 1 and table.loc["True", "False"] == 1

    summary = explore.summarize(frame)
    assert list(summary.index) == ["blank_eval", "predict", "sample_eval"]
    sample = summary.loc["sample_eval"]
    assert sample["pages"] == 4 and sample["scored"] == 4
    assert sample["stop_share"] == 0.75 and sample["repetition_rate"] == 0.25
    assert sample["front_matter_parse_failure_rate"] == 0.25
    assert sample["is_table_accuracy"] == pytest.approx(2 / 4)
    predict = summary.loc["predict"]
    assert predict["pages"] == 1 and predict["errors"] == 1 and predict["stop_share"] == 0.0
    assert predict["front_matter_parse_failure_rate"] == 1.0 and pd.isna(predict["cer"])


def test_a_file_without_references_still_explores(tmp_path):
    path = tmp_path / "predictions.jsonl"
    rows = [{"source": "a.pdf", "page": 1, "text": "---\nbroken\n---\nHello", "finish_reason": "stop"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame = explore.load_predictions(path)
    assert explore.filter_by_metric(frame, "ned", above=0.1).empty
    assert explore.filter_by_front_matter(frame, "is_table", wrong=True).empty
    assert explore.front_matter_table(frame, "is_table").empty
    assert list(explore.summarize(frame).columns[:3]) == ["pages", "errors", "scored"]
    assert explore.plot_metric_distributions(frame) and explore.plot_dataset_summary(explore.summarize(frame))


def test_diff_and_row_html(predictions):
    diff = explore.diff_html("a\nb changed\nc", "a\nb\nc")
    assert "-b</div>" in diff and "+b changed</div>" in diff
    assert "(identical)" in explore.diff_html("same", "same")
    frame = explore.load_predictions(predictions)
    html = explore.row_html(frame.iloc[1], image_side=64)
    assert "data:image/png;base64," in html and "prediction" in html and "reference" in html
    assert "no image" in explore.row_html(frame.iloc[6])
    assert explore.page_image(frame.iloc[0]["source"], 1, 100).size[1] == 100
    assert explore.plot_metric_distributions(frame).axes and explore.plot_dataset_summary(explore.summarize(frame))


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernelspec that runs this interpreter, so the test works wherever pytest's venv is."""
    folder = tmp_path / "jupyter" / "kernels" / "vlm-ocr-test"
    folder.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python"}
    (folder / "kernel.json").write_text(json.dumps({**spec, "display_name": "vlm_ocr tests"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "vlm-ocr-test"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.parametrize("start", ["notebooks", "root"])
def test_notebook_executes_on_predictions(predictions, kernel, monkeypatch, start):
    """Page paths relative to the repository root (where `make demo` predicts) are found wherever Jupyter starts."""
    root = NOTEBOOK.parents[1]
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    for row in rows:
        for key in ("source", "markdown_path"):
            if row.get(key) and explore.Path(row[key]).is_absolute():
                row[key] = os.path.relpath(row[key], root)
    predictions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("VLM_OCR_PREDICTIONS", str(predictions))
    monkeypatch.setenv("VLM_OCR_METRICS", str(metrics_csv(predictions.parent)))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    folder = NOTEBOOK.parent if start == "notebooks" else root
    NotebookClient(notebook, timeout=120, kernel_name=kernel, resources={"metadata": {"path": str(folder)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "data:image/png;base64," in html and "sample_eval" in html
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the plots
    curves_cell = next(cell for cell in notebook.cells if "plot_training" in cell.source)
    assert any("image/png" in o.get("data", {}) for o in curves_cell.outputs)  # the training curves


def metrics_csv(folder):
    """A metrics.csv as CSVLogger writes it for a tiny.yaml fit: train rows every step, validation rows apart."""
    rows = ["epoch,step,train/loss,val/sample_eval/cer,val/sample_eval/loss,val/sample_eval/stop_share"]
    rows += [f"0,{step},{12 - step * 0.1},,," for step in range(0, 60)]
    rows += ["0,0,,1.4,11.9,0.0", "0,29,,0.9,6.1,0.5", "0,59,,0.4,2.3,1.0"]
    path = folder / "metrics.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_curves_merge_the_rows_of_a_step_and_plot_losses_and_in_loop_metrics(tmp_path):
    from vlm_ocr.eval import curves

    metrics = curves.load_metrics(metrics_csv(tmp_path))
    assert len(metrics) == 60 and metrics.loc[metrics.step == 29, "val/sample_eval/cer"].item() == 0.9
    assert metrics.loc[metrics.step == 29, "train/loss"].item() == pytest.approx(9.1)
    losses, in_loop = curves.curve_columns(metrics)
    assert losses == ["train/loss", "val/sample_eval/loss"]
    assert in_loop == ["val/sample_eval/cer", "val/sample_eval/stop_share"]
    figure = curves.plot_training(metrics)
    assert [len(axis.lines) for axis in figure.axes] == [2, 2]
    (tmp_path / "runs" / "a").mkdir(parents=True)
    assert curves.newest("runs/*/metrics.csv", tmp_path) is None
