"""A fit stopped and resumed with `--ckpt_path last`, through the command line, ends as the same fit run in one go:
the same best-k checkpoints kept, its metrics in the same logger version, and `last.ckpt` at the final step."""

import csv
import json
from pathlib import Path

import torch

from vlm_ocr.cli import main

TINY = str(Path(__file__).resolve().parents[1] / "experiments" / "tiny.yaml")
MONITOR = "val/sample_eval/loss"


def fit(root, tiny_vlm_dir, sample_data_dir, steps, *extra):
    """tiny.yaml for `steps` optimizer steps of one batch, a validation every 3, a checkpoint every 2 (top 2)."""
    callbacks = [
        {
            "class_path": "vlm_ocr.callbacks.ResumableCheckpoint",
            "init_args": {"dirpath": str(root / "ckpt"), "every_n_train_steps": 2, "save_top_k": 2}
            | {"monitor": MONITOR, "mode": "min", "save_last": True},
        },
        {"class_path": "vlm_ocr.callbacks.ValidateBeforeFit"},
    ]
    args = ["fit", "--config", TINY, "--model.pretrained", str(tiny_vlm_dir), "--data.data_root", str(sample_data_dir)]
    args += ["--trainer.default_root_dir", str(root), "--trainer.logger.init_args.save_dir", str(root / "logs")]
    args += ["--trainer.accumulate_grad_batches", "1", "--trainer.val_check_interval", "3"]
    args += ["--trainer.limit_val_batches", "2", "--model.lr_scheduler", "constant", "--data.num_workers", "0"]
    args += [
        "--callbacks",
        "null",
        "--trainer.callbacks",
        json.dumps(callbacks),
        "--trainer.enable_progress_bar",
        "false",
    ]
    assert main([*args, "--trainer.max_steps", str(steps), *extra]) == 0


def kept(root):
    state = torch.load(root / "ckpt" / "last.ckpt", weights_only=False)
    checkpoint = next(v for k, v in state["callbacks"].items() if "ResumableCheckpoint" in k)
    scores = {Path(path).name: round(float(score), 6) for path, score in checkpoint["best_k_models"].items()}
    return state["global_step"], scores, sorted(p.name for p in (root / "ckpt").glob("*.ckpt"))


def test_a_resumed_fit_keeps_what_an_uninterrupted_one_keeps(tmp_path, tiny_vlm_dir, sample_data_dir, one_thread):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    fit(whole, tiny_vlm_dir, sample_data_dir, 7)
    fit(parts, tiny_vlm_dir, sample_data_dir, 5)
    assert torch.load(parts / "ckpt" / "last.ckpt", weights_only=False)["global_step"] == 5  # not step 4
    fit(parts, tiny_vlm_dir, sample_data_dir, 7, "--ckpt_path", "last")
    step, scores, files = kept(whole)
    assert step == 7 and len(scores) == 2 and "epoch=0-step=6.ckpt" in scores  # ranked by the step-3 loss
    assert kept(parts) == (step, scores, files)
    assert [p.name for p in (parts / "logs").iterdir()] == ["version_0"]  # the resume logged where it started
    rows = list(csv.DictReader((parts / "logs" / "version_0" / "metrics.csv").open()))
    whole_rows = list(csv.DictReader((whole / "logs" / "version_0" / "metrics.csv").open()))
    assert [r["step"] for r in rows if r.get("train/loss")] == [r["step"] for r in whole_rows if r.get("train/loss")]
    assert [r["step"] for r in rows if r.get(MONITOR)] == [r["step"] for r in whole_rows if r.get(MONITOR)]
