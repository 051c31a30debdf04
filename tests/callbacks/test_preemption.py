"""Real subprocesses of `python -m vlm_ocr fit` on the tiny config with the recipe's precision and optimizer
(bf16-true, Bf16AdamW: Kahan compensation and stochastically rounded moments in the checkpoint): SIGTERM
checkpoints at the next optimizer step and exits 0, kill -9 loses only the work since the last checkpoint; both
resume to the uninterrupted result, bit for bit."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from recording import read_rows
from training_runs import PYTHON, REPO, child_env

from vlm_ocr.checkpointing.verified_files import verify
from vlm_ocr.cli import main

TINY = REPO / "experiments" / "tiny.yaml"
WAIT = 120  # seconds any subprocess may take before the test gives up on it


# The recipe's (mix_1025.yaml) precision and optimizer; tiny.yaml's lr, so that six steps move bf16 weights.
RECIPE_OPTIMIZER = {
    "class_path": "vlm_ocr.optim.Bf16AdamW",
    "init_args": {"lr": 0.003, "weight_decay": 0.01, "weights": "kahan", "moments": "bfloat16", "seed": 300},
}


def overlay(folder: Path, checkpoints: Path, delay: float = 0.0, every: int = 1) -> Path:
    """The tiny recipe in bf16 with the recipe's optimizer, 6 optimizer steps of 2 batches, a checkpoint after every
    `every` steps, the recorder."""
    config = {
        "model": {"dtype": "bfloat16", "optimizer": RECIPE_OPTIMIZER},
        "trainer": {
            "precision": "bf16-true",
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "limit_val_batches": 0,
            "max_steps": 6,
            "accumulate_grad_batches": 2,
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {
                        "dirpath": str(checkpoints),
                        "filename": "step{step}",
                        "auto_insert_metric_name": False,
                        "every_n_train_steps": every,
                        "save_top_k": -1,
                        "save_last": True,
                    },
                },
                {"class_path": "vlm_ocr.callbacks.Preemption"},
                {"class_path": "vlm_ocr.callbacks.NonFiniteGuard"},
                {"class_path": "recording.Recorder", "init_args": {"out": str(folder), "delay": delay}},
            ],
        },
        "callbacks": None,  # none of tiny.yaml's: only the ones above
        "data": {"train_roots": ["train/document", "train/table", "train/list"], "num_workers": 0, "batch_size": 1},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "overlay.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def fit_args(run_dir: Path, tiny_vlm_dir, sample_data_dir, delay=0.0, records: Path | None = None, every=1):
    return [
        "fit",
        "--config",
        str(TINY),
        "--config",
        str(overlay(records or run_dir / "rec", run_dir / "ckpt", delay, every)),
        "--model.pretrained",
        str(tiny_vlm_dir),
        "--data.data_root",
        str(sample_data_dir),
        "--trainer.default_root_dir",
        str(run_dir),
    ]


def fit_in_process(args):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 in the subprocesses: the same sums, bit for bit
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_vlm_dir, sample_data_dir):
    run = tmp_path_factory.mktemp("uninterrupted")
    fit_in_process(fit_args(run, tiny_vlm_dir, sample_data_dir, every=1000))  # no checkpoints needed
    return read_rows(run / "rec"), torch.load(run / "rec" / "weights.pt")


def start(run_dir, tiny_vlm_dir, sample_data_dir):
    args = fit_args(run_dir, tiny_vlm_dir, sample_data_dir, delay=0.3)
    log = open(run_dir / "stderr.txt", "w")
    return subprocess.Popen([PYTHON, "-m", "vlm_ocr", *args], env=child_env(), stderr=log, stdout=log)


def wait_for(condition, process, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"gave up waiting for {what} (exit code {process.poll()})")
        time.sleep(0.05)


def resume_and_compare(run_dir, reference, tiny_vlm_dir, sample_data_dir, first_rows, checkpoint_step):
    rows, weights = reference
    resumed = run_dir / "resumed"  # the same run folder and checkpoints, its own records
    args = fit_args(run_dir, tiny_vlm_dir, sample_data_dir, records=resumed, every=1000)
    fit_in_process([*args, "--ckpt_path", "last"])
    resumed_rows = read_rows(resumed)
    # The run continues exactly where its checkpoint was: nothing replayed, nothing skipped.
    assert first_rows[: 2 * checkpoint_step] + resumed_rows == rows
    final = torch.load(resumed / "weights.pt")
    assert final.keys() == weights.keys() and all(torch.equal(final[k], weights[k]) for k in weights)


def test_sigterm_saves_at_the_next_step_exits_cleanly_and_resumes_exactly(
    tmp_path, reference, tiny_vlm_dir, sample_data_dir
):
    rows = tmp_path / "rec" / "rank0.jsonl"
    process = start(tmp_path, tiny_vlm_dir, sample_data_dir)
    try:
        wait_for(lambda: rows.exists() and len(rows.read_text().splitlines()) >= 3, process, "the third batch")
        os.kill(process.pid, signal.SIGTERM)  # during the first batch of step 1's two-batch window
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
    log = (tmp_path / "stderr.txt").read_text()
    assert f"SIGTERM received: saving {tmp_path / 'ckpt' / 'last.ckpt'} at step 2, then exiting" in log
    record = verify(tmp_path / "ckpt" / "last.ckpt")
    assert record["global_step"] == 2  # at the end of the accumulation window, not in the middle of it
    first_rows = read_rows(tmp_path / "rec")
    assert len(first_rows) == 4  # the window was finished, nothing after it was started
    resume_and_compare(tmp_path, reference, tiny_vlm_dir, sample_data_dir, first_rows, 2)


def test_kill_9_loses_only_the_work_since_the_last_checkpoint(tmp_path, reference, tiny_vlm_dir, sample_data_dir):
    rows = tmp_path / "rec" / "rank0.jsonl"
    process = start(tmp_path, tiny_vlm_dir, sample_data_dir)
    try:
        wait_for(lambda: rows.exists() and len(rows.read_text().splitlines()) >= 7, process, "the seventh batch")
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=WAIT) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    step = verify(tmp_path / "ckpt" / "last.ckpt")["global_step"]
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["optimizer_states"][0]["state"]
    kept = {k: v.dtype for k, v in state[0].items()}  # what the resume must restore: the recipe optimizer's state
    assert kept == {"step": torch.int64, **dict.fromkeys(("exp_avg", "exp_avg_sq", "compensation"), torch.bfloat16)}
    first_rows = read_rows(tmp_path / "rec")
    assert step >= 3 and len(first_rows) - 2 * step <= 2  # lost: at most the batches of one optimizer step
    resume_and_compare(tmp_path, reference, tiny_vlm_dir, sample_data_dir, first_rows, step)


def test_sigusr1_on_slurm_checkpoints_requeues_the_job_and_exits_0(
    tmp_path, tiny_vlm_dir, sample_data_dir, monkeypatch
):
    import lightning as L
    from training_runs import make_data, make_module, make_trainer

    from vlm_ocr.callbacks import Preemption
    from vlm_ocr.callbacks.preemption import Preempted

    bin_dir = tmp_path / "bin"  # a stand-in for SLURM's scontrol that records how it was called
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "scontrol.txt"}\n')
    (bin_dir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")

    class SignalAtBatch(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == 1 and batch_idx == 2:  # the first batch of step 1's window
                os.kill(os.getpid(), signal.SIGUSR1)

    preemption = Preemption(dirpath=str(tmp_path / "ckpt"))
    previous = signal.getsignal(signal.SIGUSR1)
    trainer = make_trainer(tmp_path, [SignalAtBatch(), preemption], max_steps=5, accumulate_grad_batches=2)
    with pytest.raises(Preempted) as stopped:
        trainer.fit(make_module(tiny_vlm_dir), make_data(tiny_vlm_dir, sample_data_dir))
    assert stopped.value.code == 0 and trainer.global_step == 2  # step 1's window was finished first
    assert verify(tmp_path / "ckpt" / "last.ckpt")["global_step"] == 2
    assert (tmp_path / "scontrol.txt").read_text().split() == ["requeue", "4242"]
    assert signal.getsignal(signal.SIGUSR1) == previous  # handlers are given back
