"""The GRPO stage on two CPU processes (gloo) launched by torchrun through the real CLI, and stopped and resumed:
DDP matches one process with the same pages per step, FSDP2 matches DDP, and a resumed run (from a checkpoint, or
after kill -9) ends exactly as the uninterrupted one."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from bench_folder import bench_from_pairs
from training_runs import child_env

from vlm_ocr.model.loading import load_model

REPO = Path(__file__).resolve().parents[2]
RECIPE, TINY = REPO / "experiments" / "grpo_synth_1025.yaml", REPO / "experiments" / "overlays" / "grpo-tiny.yaml"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
WAIT = 600

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench(sample_data_dir, tmp_path_factory):
    """8 pages whose single-letter tests a random model passes now and then: rewards that vary in a group."""
    root = tmp_path_factory.mktemp("bench")
    for kind in ("document", "table", "list", "german"):
        bench_from_pairs(sample_data_dir / "train" / kind, root / kind, letters=("e", "a", "s", "n"))
    merged = root / "all"
    for kind in ("document", "table", "list", "german"):
        for path in (root / kind).rglob("*"):
            if path.is_file():
                target = merged / path.relative_to(root / kind)
                target = target.with_name(f"{kind}.jsonl") if target.suffix == ".jsonl" else target
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    return merged


def overlay(run: Path, strategy=None, accumulate=1, max_steps=4) -> Path:
    trainer = {
        "logger": {"class_path": "vlm_ocr.callbacks.ResumableCSVLogger", "init_args": {"save_dir": str(run / "logs")}},
        "max_steps": max_steps,
        "accumulate_grad_batches": accumulate,
        "limit_val_batches": 0,
        "enable_model_summary": False,
        "callbacks": [
            {
                "class_path": "vlm_ocr.callbacks.ResumableCheckpoint",
                "init_args": {"dirpath": str(run / "ckpt"), "every_n_train_steps": 2, "save_top_k": -1}
                | {"save_last": True, "filename": "step{step}", "auto_insert_metric_name": False},
            },
            {"class_path": "vlm_ocr.callbacks.Preemption"},
            {"class_path": "vlm_ocr.callbacks.NonFiniteGuard"},
            {"class_path": "recording.Recorder", "init_args": {"out": str(run / "rec")}},
        ],
    }
    if strategy:
        trainer.update(strategy=strategy, devices=2)
    model = {
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-3, "weight_decay": 0.0}},
        "rollout": {"num_generations": 3, "max_new_tokens": 8},
        "table_every_n_steps": 0,
        "reward_workers": 1,
    }
    run.mkdir(parents=True, exist_ok=True)
    config = {"callbacks": None, "trainer": trainer, "model": model}  # the recipe's named callbacks dropped: these
    (run / "overlay.yaml").write_text(yaml.safe_dump(config))
    return run / "overlay.yaml"


def cli_args(run, tiny_vlm_dir, bench, **overlay_args):
    return [
        "fit",
        *("--config", str(RECIPE), "--config", str(TINY), "--config", str(overlay(run, **overlay_args))),
        *("--model.pretrained", str(tiny_vlm_dir), "--data.bench_root", str(bench)),
        *("--trainer.default_root_dir", str(run), "--trainer.enable_progress_bar", "false"),
    ]


def launch(args, run, processes=2):
    command = [*TORCHRUN, "-m", "vlm_ocr", *args] if processes == 2 else [sys.executable, "-m", "vlm_ocr", *args]
    log = open(run / "log.txt", "a")
    env = child_env(PYTHONPATH=os.pathsep.join([str(REPO / "tests"), str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True, cwd=run)


def finish(process, run):
    try:
        code = process.wait(timeout=WAIT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert code == 0, (run / "log.txt").read_text()[-4000:]


def rows(run, rank=0):
    return [json.loads(line) for line in (run / "rec" / f"rank{rank}.jsonl").read_text().splitlines()]


def metrics(run, name="train/reward"):
    """step -> value of every logged optimizer step (a step logged again after a resume: its last value)."""
    found = csv.DictReader(next((run / "logs").rglob("metrics.csv")).open())
    return {int(r["step"]): float(r[name]) for r in found if r.get(name)}


def weights(run):
    return torch.load(run / "rec" / "weights.pt")


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, tiny_vlm_dir, bench):
    run = tmp_path_factory.mktemp("ddp")
    finish(launch(cli_args(run, tiny_vlm_dir, bench, strategy="ddp"), run), run)
    return run


def test_ddp_ranks_roll_out_their_own_pages_and_match_one_process(ddp_run, tmp_path, tiny_vlm_dir, bench):
    first, second = rows(ddp_run, 0), rows(ddp_run, 1)
    assert len(first) == len(second) == 4  # 4 optimizer steps of one page per rank
    assert not {p for r in first for p in r["pages"]} & {p for r in second for p in r["pages"]}  # a group never
    single = tmp_path / "single"  # spans ranks; one process with 2 pages per step: the same pages, the same samples
    finish(launch(cli_args(single, tiny_vlm_dir, bench, accumulate=2), single, processes=1), single)
    assert [r["pages"] for r in rows(single)] == [
        r["pages"] for a, b in zip(first, second, strict=True) for r in (a, b)
    ]
    assert metrics(single) == pytest.approx(metrics(ddp_run), abs=1e-6)  # rewards: same completions per step
    assert len(set(metrics(ddp_run).values())) > 1 and any(metrics(ddp_run, "train/kl").values())
    ddp, one = weights(ddp_run), weights(single)
    assert max((ddp[k] - one[k]).abs().max().item() for k in ddp) < 1e-5
    initial = load_model(str(tiny_vlm_dir), "float32", "sdpa").state_dict()
    assert max((initial[k] - ddp[k]).abs().max().item() for k in ddp) > 1e-4  # the runs really trained


def test_fsdp2_matches_ddp_and_resumes_exactly(ddp_run, tmp_path, tiny_vlm_dir, bench):
    strategy = {"class_path": "vlm_ocr.strategies.FSDP2Strategy"}
    run = tmp_path / "fsdp"
    finish(launch(cli_args(run, tiny_vlm_dir, bench, strategy=strategy), run), run)
    assert rows(run, 0) == rows(ddp_run, 0) and rows(run, 1) == rows(ddp_run, 1)
    assert metrics(run) == pytest.approx(metrics(ddp_run), abs=1e-6)
    fsdp, ddp = weights(run), weights(ddp_run)
    assert max((fsdp[k] - ddp[k]).abs().max().item() for k in ddp) < 1e-5
    resumed = tmp_path / "resumed"  # from the sharded checkpoint at step 2, on two processes again
    args = cli_args(resumed, tiny_vlm_dir, bench, strategy=strategy)
    finish(launch([*args, "--ckpt_path", str(run / "ckpt" / "step2.ckpt")], resumed), resumed)
    assert rows(resumed, 0) == [r for r in rows(run, 0) if r["step"] >= 2]
    assert all(torch.equal(weights(resumed)[k], fsdp[k]) for k in fsdp)


def test_kill_9_and_resume_end_as_the_uninterrupted_run(ddp_run, tmp_path, tiny_vlm_dir, bench):
    """One process, 6 steps of 2 pages: killed once its step-2 checkpoint is written, resumed with
    `--ckpt_path last`: the same pages, rewards and final weights as without the kill."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    finish(launch(cli_args(whole, tiny_vlm_dir, bench, accumulate=2, max_steps=6), whole, processes=1), whole)
    process = launch(cli_args(cut, tiny_vlm_dir, bench, accumulate=2, max_steps=6), cut, processes=1)
    deadline = time.monotonic() + WAIT
    while checkpoint_step(cut / "ckpt" / "last.ckpt") < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    step = checkpoint_step(cut / "ckpt" / "last.ckpt")
    assert 2 <= step < 6, step  # killed mid-run
    again = [*cli_args(cut, tiny_vlm_dir, bench, accumulate=2, max_steps=6), "--ckpt_path", "last"]
    finish(launch(again, cut, processes=1), cut)
    resumed = rows(cut)[-2 * (6 - step) :]  # the resumed run's batches: exactly the uninterrupted run's from there
    assert resumed == rows(whole)[2 * step :]
    after = {k: v for k, v in metrics(whole).items() if k >= step}
    assert {k: v for k, v in metrics(cut).items() if k >= step} == after
    assert all(torch.equal(weights(cut)[k], weights(whole)[k]) for k in weights(whole))


def checkpoint_step(path: Path) -> int:
    """The optimizer step of a complete, verified checkpoint; -1 while there is none."""
    from vlm_ocr.checkpointing.verified_files import CorruptCheckpoint, verify

    try:
        return int(verify(path)["global_step"])
    except (OSError, CorruptCheckpoint, KeyError, ValueError):
        return -1
