"""The embedded default end to end (slow: about a minute on 2 cores): `make demo`'s fit, loss regression."""

import csv
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
