"""The embedded default end to end (slow: minutes on 2 cores): `make demo`'s fit and predict, loss regression."""

import csv
import json
from pathlib import Path

import pytest

from vlm_ocr.cli import main

TINY = str(Path(__file__).resolve().parents[1] / "experiments" / "tiny.yaml")


@pytest.mark.slow
def test_tiny_fit_learns_and_exports(cli_env, tmp_path):
    assert main(["fit", "--config", TINY, *cli_env, "--trainer.logger.init_args.save_dir", str(tmp_path / "logs")]) == 0
    metrics = next((tmp_path / "logs").rglob("metrics.csv"))
    rows = list(csv.DictReader(metrics.open()))
    val = [float(r["val/sample_eval/loss"]) for r in rows if r.get("val/sample_eval/loss")]
    assert val[0] > 11.0 and val[-1] < 6.0  # from ln(152064) = 11.9 at random init, on held-out pages
    assert next(metrics.parent.rglob("hf_model/model.safetensors"))
    # make demo's second step: the eval pages predicted with the trained checkpoint, for the notebook
    predict = ["predict", "--config", TINY, *cli_env, "--ckpt_path", "runs/tiny/checkpoints/last.ckpt"]
    assert main([*predict, "--data.predict_paths", "[]", "--data.predict_eval_datasets", "[sample_eval]"]) == 0
    rows = [json.loads(line) for line in Path("runs/tiny/predictions/predictions.jsonl").read_text().splitlines()]
    assert sum("text" in r and "reference" in r for r in rows) == 6  # the seventh, rotated page is dropped
