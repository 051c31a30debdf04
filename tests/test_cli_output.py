"""What a fit prints, through real processes: in a terminal one step bar (no validation bar beside it), in a log
lines every N steps instead of carriage-return frames, no accelerator or seed banners, no warning on a resume that
is one by design; and a fit that fails leaves no empty version folder behind."""

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import termios

from training_runs import PYTHON, REPO, child_env

from vlm_ocr.cli import main

TINY = str(REPO / "experiments" / "tiny.yaml")


def fit_args(tiny_vlm_dir, sample_data_dir, steps, *extra):
    args = ["fit", "--config", TINY, "--model.pretrained", str(tiny_vlm_dir), "--data.data_root", str(sample_data_dir)]
    args += ["--data.num_workers", "0", "--trainer.max_steps", str(steps), "--trainer.val_check_interval", "4"]
    args += ["--trainer.limit_val_batches", "1", "--trainer.accumulate_grad_batches", "1", "--callbacks", "null"]
    args += ["--trainer.callbacks"]
    callbacks = [
        {"class_path": "vlm_ocr.callbacks.ResumableCheckpoint", "init_args": {"dirpath": "ckpt", "save_last": True}},
        {"class_path": "vlm_ocr.callbacks.StepProgressBar", "init_args": {"line_every_n_steps": 2}},
        {"class_path": "vlm_ocr.callbacks.ParameterSummary"},
    ]
    return [*args, json.dumps(callbacks), *extra]


def in_a_terminal(command, cwd) -> tuple[int, str]:
    """Run `command` with stdout and stderr on a pseudo-terminal; (exit status, everything it wrote)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    process = subprocess.Popen(command, cwd=cwd, env=child_env(), stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 600)  # a guard against a hang, not a timing
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # the child closed the terminal
            chunk = b""
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=600), b"".join(chunks).decode(errors="replace")


def test_a_fit_prints_one_bar_in_a_terminal_and_lines_in_a_log(tmp_path, tiny_vlm_dir, sample_data_dir):
    status, terminal = in_a_terminal([PYTHON, "-m", "vlm_ocr", *fit_args(tiny_vlm_dir, sample_data_dir, 8)], tmp_path)
    assert status == 0, terminal[-3000:]
    assert "\r" in terminal and "8/8" in terminal and "Training" in terminal  # the step bar, drawn in place
    assert "Validation" not in terminal  # two validations ran, drawing no bar of their own
    for banner in ("GPU available", "TPU available", "Seed set to"):
        assert banner not in terminal
    resumed = [PYTHON, "-m", "vlm_ocr", *fit_args(tiny_vlm_dir, sample_data_dir, 12, "--ckpt_path", "last")]
    log = subprocess.run(resumed, cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=600)
    assert log.returncode == 0, log.stderr[-3000:]
    assert "\r" not in log.stdout + log.stderr  # not a terminal: no frames
    lines = [line for line in log.stdout.splitlines() if line.startswith("Training: ")]
    assert [line.split(",")[0] for line in lines] == ["Training: step 10/12 (83%)", "Training: step 12/12 (100%)"]
    assert all(" elapsed, ETA " in line and "train/loss=" in line for line in lines), lines
    assert "exists and is not empty" not in log.stderr and "GPU available" not in log.stderr


def test_a_failed_fit_leaves_no_empty_version_folder(cli_env, tmp_path, capsys):
    args = ["fit", "--config", TINY, *cli_env, "--trainer.logger.init_args.save_dir", str(tmp_path / "logs")]
    assert main([*args, "--data.train_roots", "[missing]"]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").iterdir())
