"""`make demo` end to end (slow: a few minutes on 2 cores): the default sample data, tiny model and tiny.yaml, then
predict, and the demo's three promises on what it wrote: the model ends its answers itself, its front matter parses
on every eval page, and it answers each training page with that page's own text (not the other page's)."""

import csv
import json
from pathlib import Path

import pytest

from vlm_ocr.cli import main
from vlm_ocr.eval.metrics import character_error_rate, read_markdown

TINY = str(Path(__file__).resolve().parents[1] / "experiments" / "tiny.yaml")


@pytest.fixture(scope="module")
def demo(tiny_vlm_dir, tmp_path_factory):
    """make demo's steps in a fresh folder: make-sample-data (its defaults), fit, predict; the prediction rows."""
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert main(["make-sample-data", "artifacts/sample-data"]) == 0
        model = ["--model.pretrained", str(tiny_vlm_dir)]  # what make-tiny-model writes: the tiny preset, seed 0
        assert main(["fit", "--config", TINY, *model]) == 0
        predict = ["predict", "--config", TINY, *model, "--ckpt_path", "runs/tiny/checkpoints/last.ckpt"]
        eval_sets = ["--data.predict_paths", "[]", "--data.predict_eval_datasets", "[sample_eval, sample_train]"]
        assert main([*predict, *eval_sets]) == 0
    lines = (root / "runs/tiny/predictions/predictions.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    dropped = [row for row in rows if "text" not in row]  # the index names every page it did not predict
    assert [(Path(row["source"]).name, row["step"]) for row in dropped] == [("rotated_000.pdf", "FilterRotated")]
    return root, [row for row in rows if "text" in row]


@pytest.mark.slow
def test_the_demo_ends_its_answers_itself(demo):
    _, rows = demo
    assert len(rows) == 8  # 6 eval pages (the rotated one is dropped), 2 training pages
    assert [row["finish_reason"] for row in rows] == ["stop"] * 8, rows


@pytest.mark.slow
def test_the_demo_front_matter_parses_on_every_eval_page(demo):
    _, rows = demo
    eval_rows = [row for row in rows if row["dataset"] == "sample_eval"]
    assert len(eval_rows) == 6 and all(read_markdown(row["text"])[0] is not None for row in eval_rows), eval_rows


@pytest.mark.slow
def test_the_demo_answers_each_training_page_with_its_own_text(demo):
    root, rows = demo
    train = sorted((row for row in rows if row["dataset"] == "sample_train"), key=lambda row: row["source"])
    texts = [read_markdown(row["text"])[1] for row in train]
    references = [read_markdown(row["reference"])[1] for row in train]
    assert len(train) == 2 and references[0] != references[1]
    for i, text in enumerate(texts):
        assert character_error_rate(text, references[i]) <= 0.05, (text, references)  # its own page
        assert character_error_rate(text, references[1 - i]) >= 0.3, (text, references)  # not the other page's
    # the same in the loop: metrics.csv's last in-loop scores of the training pages, as the notebook plots them
    logged = [
        r for r in csv.DictReader(next((root / "runs").rglob("metrics.csv")).open()) if r.get("val/sample_train/cer")
    ]
    assert float(logged[-1]["val/sample_train/cer"]) <= 0.05 and float(logged[-1]["val/sample_eval/stop_share"]) == 1.0
