"""Checkpoint files: corrupt and partial ones are caught, a kill -9 mid-save leaves no valid-looking file, a full
disk is reported with the free space and leaves the previous checkpoint intact."""

import json
import os
import shutil
import signal
import subprocess
import textwrap
import time

import pytest
import torch
from training_runs import PYTHON, child_env

from vlm_ocr.training.checkpoint_files import (
    CheckpointWriteError,
    CorruptCheckpoint,
    record_path,
    save_verified,
    usable_checkpoint,
    verify,
)


def checkpoint(step, numel=50_000):
    return {"global_step": step, "epoch": 0, "state_dict": {"w": torch.full((numel,), float(step))}}


def test_round_trip_and_what_is_caught(tmp_path, caplog):
    path = tmp_path / "last.ckpt"
    save_verified(checkpoint(7), path)
    assert verify(path)["global_step"] == 7 and torch.load(path)["state_dict"]["w"][0] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "last.ckpt.sum.json"]  # no temp left

    flipped = tmp_path / "flipped.ckpt"
    shutil.copy(path, flipped)
    shutil.copy(record_path(path), record_path(flipped))
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one bit-rotted byte in the tensor data: torch.load would not notice
    flipped.write_bytes(bytes(data))
    assert torch.load(flipped)["global_step"] == 7
    with pytest.raises(CorruptCheckpoint, match="checksum mismatch"):
        verify(flipped)

    truncated = tmp_path / "truncated.ckpt"
    shutil.copy(record_path(path), record_path(truncated))
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorruptCheckpoint, match=r"1000 bytes, the save wrote \d+ \(truncated or partial\)"):
        verify(truncated)

    foreign = tmp_path / "foreign.ckpt"  # written by plain Lightning: no record, structure checked instead
    torch.save(checkpoint(3), foreign)
    assert verify(foreign) == {} and "has no checksum record" in caplog.text
    foreign.write_bytes(foreign.read_bytes()[:-100])
    with pytest.raises(CorruptCheckpoint, match="not a readable checkpoint"):
        verify(foreign)


def test_fallback_picks_the_newest_valid_checkpoint_and_says_so(tmp_path, caplog):
    for step in (2, 4, 6):
        save_verified(checkpoint(step), tmp_path / f"step{step}.ckpt")
    save_verified(checkpoint(6), tmp_path / "last.ckpt")
    (tmp_path / "last.ckpt").write_bytes(b"\0" * 10)  # e.g. a disk that lost the end of the file
    data = bytearray((tmp_path / "step6.ckpt").read_bytes())
    data[-5000] ^= 1
    (tmp_path / "step6.ckpt").write_bytes(bytes(data))
    assert usable_checkpoint(tmp_path / "last.ckpt") == tmp_path / "step4.ckpt"
    assert "checkpoint " + str(tmp_path / "last.ckpt") + " is unusable" in caplog.text
    assert "skipping checkpoint " + str(tmp_path / "step6.ckpt") + " too: " in caplog.text
    assert f"resuming from {tmp_path / 'step4.ckpt'} instead" in caplog.text
    with pytest.raises(CorruptCheckpoint, match="is unusable|truncated"):
        usable_checkpoint(tmp_path / "last.ckpt", fallback=False)
    with pytest.raises(FileNotFoundError):
        usable_checkpoint(tmp_path / "nope.ckpt")


SAVE_LOOP = textwrap.dedent(
    """
    import sys, torch
    from vlm_ocr.training.checkpoint_files import save_verified
    step = 0
    while True:
        step += 1
        save_verified({"global_step": step, "w": torch.full((4_000_000,), float(step))}, sys.argv[1])
        print(step, flush=True)
    """
)


def saved_step(path):
    try:
        return json.loads(record_path(path).read_text())["global_step"]
    except (OSError, ValueError):  # not written yet
        return 0


def test_kill_9_during_saves_never_leaves_a_bad_checkpoint_in_place(tmp_path):
    path = tmp_path / "last.ckpt"
    mid_save = 0  # kills that landed while a save was writing (its temp file is left behind)
    for attempt in range(2):
        before = saved_step(path)
        process = subprocess.Popen([PYTHON, "-c", SAVE_LOOP, str(path)], env=child_env(), stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while saved_step(path) <= before:
                assert process.poll() is None and time.monotonic() < deadline, "the save loop did not save"
                time.sleep(0.01)
            time.sleep(0.02 + 0.03 * attempt)  # land somewhere inside one of the next 16 MB saves
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        record = verify(path)  # whatever was in place when the process died is complete and matches its record
        saved = torch.load(path)
        assert saved["global_step"] == record["global_step"] and bool((saved["w"] == record["global_step"]).all())
        leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("last.ckpt", "last.ckpt.sum.json")]
        assert all(".tmp-" in name for name in leftovers)  # only temp names, which nothing treats as checkpoints
        mid_save += bool(leftovers)
    assert mid_save >= 1
    save_verified(checkpoint(99), path)  # the next save clears temp files left by a killed process
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "last.ckpt.sum.json"]


FULL_DISK = textwrap.dedent(
    """
    import json, subprocess, sys, torch
    from pathlib import Path
    from vlm_ocr.training.checkpoint_files import CheckpointWriteError, save_verified, verify
    folder = Path(sys.argv[1])
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)]).returncode != 0:
        sys.exit(3)
    save_verified({"global_step": 1, "w": torch.zeros(100_000)}, folder / "last.ckpt")  # 400 kB: fits
    try:
        save_verified({"global_step": 2, "w": torch.zeros(1_000_000)}, folder / "last.ckpt")  # 4 MB: does not
    except CheckpointWriteError as error:
        print(json.dumps({"error": str(error), "step": verify(folder / "last.ckpt")["global_step"],
                          "files": sorted(p.name for p in folder.iterdir())}))
    """
)


def test_a_full_disk_is_reported_and_the_previous_checkpoint_survives(tmp_path):
    mount = tmp_path / "small_disk"
    mount.mkdir()
    # A real 2 MiB filesystem, in a private mount namespace (no root needed where user namespaces are allowed).
    command = ["unshare", "--user", "--map-root-user", "--mount", PYTHON, "-c", FULL_DISK, str(mount)]
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    result = subprocess.run(command, env=child_env(), capture_output=True, text=True, timeout=120)
    if result.returncode == 3 or result.stderr.startswith("unshare:"):
        pytest.skip(f"cannot mount a small filesystem here: {result.stderr.strip()[-200:]}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "was not written: No space left on device (" in report["error"] and "MiB free" in report["error"]
    assert "Earlier checkpoints are untouched" in report["error"] and "--ckpt_path last" in report["error"]
    assert report["step"] == 1 and report["files"] == ["last.ckpt", "last.ckpt.sum.json"]
    assert issubclass(CheckpointWriteError, OSError)
