"""Nothing already written is lost, through the command line: generators refuse a folder that holds files, a second
fit into a running fit's folder stops at once (and a killed fit leaves no lock), an unwritable run folder is named
before anything loads, and SIGTERM during predict stops after the batch being written."""

import io
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from reportlab.pdfgen.canvas import Canvas
from training_runs import PYTHON, REPO, child_env

from vlm_ocr.cli import main

TINY = str(REPO / "experiments" / "tiny.yaml")
WAIT = 300  # seconds a subprocess may take to reach a point before the test gives up (a guard, not a timing)


def last_error_line(capsys, verb):
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"{verb}: error: "), line
    return line


def test_generators_refuse_a_folder_that_holds_files(capsys, tmp_path):
    weights = tmp_path / "model"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"a real model's weights")
    assert main(["make-tiny-model", str(weights)]) == 2
    assert "holds files; pass --overwrite true" in last_error_line(capsys, "make-tiny-model")
    assert main(["make-sample-data", str(weights)]) == 2
    assert "holds files; pass --overwrite true" in last_error_line(capsys, "make-sample-data")
    assert sorted(p.name for p in weights.iterdir()) == ["model.safetensors"]
    assert (weights / "model.safetensors").read_bytes() == b"a real model's weights"
    data = tmp_path / "data"
    data.mkdir()  # an empty folder is taken
    assert main(["make-sample-data", str(data), "--train_per_kind", "1", "--eval_per_kind", "0"]) == 0
    assert len(list(data.rglob("*.md"))) == 1
    assert main(["make-sample-data", str(data), "--train_per_kind", "2", "--eval_per_kind", "1", "--overwrite"]) == 0
    assert len(list(data.rglob("*.md"))) == 9 and not list(tmp_path.glob(".*partial*"))


def write_long_pdf(path: Path, pages: int) -> None:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(200, 100), invariant=1)
    for number in range(pages):
        canvas.drawString(20, 50, f"page {number}")
        canvas.showPage()
    canvas.save()
    path.write_bytes(buffer.getvalue())


def wait_for(condition, process, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"gave up waiting for {what} (exit code {process.poll()})")
        time.sleep(0.1)


def test_a_second_fit_into_a_running_fits_folder_stops_at_once_and_a_killed_fit_leaves_no_lock(
    capsys, tmp_path, monkeypatch, tiny_vlm_dir, sample_data_dir
):
    monkeypatch.chdir(tmp_path)  # tiny.yaml's run folder, runs/tiny, and its checkpoints are relative
    fit = ["fit", "--config", TINY, "--model.pretrained", str(tiny_vlm_dir), "--data.data_root", str(sample_data_dir)]
    fit += ["--data.num_workers", "0"]
    log = open(tmp_path / "first.txt", "w")
    first = subprocess.Popen(
        [PYTHON, "-m", "vlm_ocr", *fit, "--trainer.max_steps", "100000"], env=child_env(), stdout=log, stderr=log
    )
    runs = tmp_path / "runs" / "tiny"
    try:
        wait_for(lambda: (runs / ".checkpoints.vlm_ocr-fit.lock").exists(), first, "the first fit's lock")
        assert main([*fit, "--trainer.max_steps", "1"]) == 2
        line = last_error_line(capsys, "fit")
        assert f"--trainer.default_root_dir {runs}: another fit (pid {first.pid} on " in line, line
        assert "give this run its own --trainer.default_root_dir" in line
        first.kill()
        assert first.wait(timeout=WAIT) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    assert (runs.parent / ".tiny.vlm_ocr-fit.lock").exists()  # it stays; the kernel dropped the killed fit's lock
    assert main([*fit, "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0"]) == 0


def test_an_unwritable_run_folder_is_named_before_anything_loads(tmp_path, tiny_vlm_dir, sample_data_dir):
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    fit = [PYTHON, "-m", "vlm_ocr", "fit", "--config", TINY, "--model.pretrained", str(tiny_vlm_dir)]
    fit += ["--data.data_root", str(sample_data_dir), "--trainer.default_root_dir", str(frozen / "runs")]
    # a read-only filesystem over the folder, in a private mount namespace (root writes through chmod)
    script = 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"'
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, str(frozen), *fit]
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    done = subprocess.run(command, env=child_env(), cwd=tmp_path, capture_output=True, text=True, timeout=WAIT)
    if done.stderr.startswith(("unshare:", "mount:")):
        pytest.skip(f"cannot mount a read-only filesystem here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"fit: error: --trainer.default_root_dir {frozen / 'runs'}: cannot write there (Read-only file system); "
        "choose a folder this user can write"
    )
    assert "indexed" not in done.stderr and "loaded" not in done.stderr  # failed before indexing and loading


def test_sigterm_during_predict_stops_after_the_batch_being_written(tmp_path, tiny_vlm_dir, sample_data_dir):
    write_long_pdf(tmp_path / "long.pdf", 300)
    predict = [PYTHON, "-m", "vlm_ocr", "predict", "--config", TINY, "--model.pretrained", str(tiny_vlm_dir)]
    predict += ["--data.data_root", str(sample_data_dir), "--data.num_workers", "0"]
    predict += ["--data.predict_paths", json.dumps([str(tmp_path / "long.pdf")]), "--model.predict_rotation_retry"]
    predict += ["false", "--model.generation.max_new_tokens", "8", "--data.batch_size", "1"]  # a batch per page
    log = open(tmp_path / "log.txt", "w")
    process = subprocess.Popen(predict, env=child_env(), cwd=tmp_path, stdout=log, stderr=log)
    out = tmp_path / "runs" / "tiny" / "predictions"  # tiny.yaml's PredictionWriter folder, under the cwd
    index = out / "predictions.jsonl"
    try:
        wait_for(lambda: index.exists() and index.read_text().count("\n") >= 2, process, "two predicted pages")
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=WAIT) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    rows = [json.loads(line) for line in index.read_text().splitlines()]  # every line whole
    assert 2 <= len(rows) < 300 and [row["page"] for row in rows] == list(range(1, len(rows) + 1))
    assert all((out / row["output"]).read_text() == row["text"] for row in rows)
    stopped = f"SIGTERM received: predict stops after {len(rows)} batches, all of them written"
    assert stopped in (tmp_path / "log.txt").read_text()
