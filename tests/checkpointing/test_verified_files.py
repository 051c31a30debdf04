"""Checkpoint files: corrupt and partial ones are caught, a kill -9 mid-save leaves no valid-looking file, a full
disk is reported with the free space and leaves the previous checkpoint intact."""

import json
import os
import select
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch
from training_runs import PYTHON, child_env

from vlm_ocr.checkpointing.verified_files import (
    TEMP_MARK,
    CheckpointWriteError,
    CorruptCheckpoint,
    checkpoint_candidates,
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


SAVES_KILLED_AT = textwrap.dedent(
    """
    import os, signal, sys, torch
    from vlm_ocr.checkpointing import verified_files as checkpoint_files
    torch.set_num_threads(1)  # no thread pool to inherit across fork
    state = {"global_step": 2, "epoch": 0, "state_dict": {"w": torch.full((20_000,), 2.0)}}
    write = checkpoint_files._ChecksumWriter.write.__code__
    for request in sys.stdin:  # "N": save_verified(state, argv[1]) in a fork that kills itself before its N-th step
        kill_at, ran = int(request), [0]
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            def step():
                ran[0] += 1
                if ran[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            def trace_line(frame, event, arg):
                if event == "line":
                    step()
                return trace_line
            def trace_call(frame, event, arg):
                if frame.f_code.co_filename != checkpoint_files.__file__:
                    return None
                if frame.f_code is write:
                    return step()  # one step per chunk of torch.save's bytes, not per line of the wrapper
                return trace_line
            sys.settrace(trace_call)
            checkpoint_files.save_verified(state, sys.argv[1])
            sys.settrace(None)
            os.write(write_end, str(ran[0]).encode())
            os._exit(0)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        steps = os.read(read_end, 64).decode() or "-"
        os.close(read_end)
        print(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status), steps, flush=True)
    """
)


class SavesKilledAt:
    """A process that runs save_verified over `path` in a fork that SIGKILLs itself just before its N-th step: a line
    of checkpoint_files code (the save and every helper it calls) or one write of torch.save's bytes. Steps are
    counted, never timed: the kill lands at the same point of the save on any machine, however loaded."""

    def __init__(self, path: Path):
        command = [PYTHON, "-c", SAVES_KILLED_AT, str(path)]
        self.process = subprocess.Popen(
            command, env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def save(self, kill_at: int) -> tuple[int, str]:
        """(exit status: -SIGKILL when killed, 0 when the save finished; the steps a finished save ran, else '-')."""
        self.process.stdin.write(f"{kill_at}\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], 600)  # a guard against a hang, not a timing
        assert ready, f"the save to be killed at step {kill_at} did not end"
        status, steps = self.process.stdout.readline().split()
        return int(status), steps

    def close(self) -> None:
        self.process.stdin.close()
        assert self.process.wait(timeout=600) == 0


def test_kill_9_during_saves_never_leaves_a_bad_checkpoint_in_place(tmp_path):
    """SIGKILL at every step of a save over an existing checkpoint: what is in place is always the old or the new
    checkpoint, complete and matching its record; only temp names are left, and the next save clears them."""
    folder, path = tmp_path / "checkpoints", tmp_path / "checkpoints" / "last.ckpt"
    save_verified(checkpoint(1, numel=20_000), tmp_path / "old" / "last.ckpt")

    def fresh_folder():
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(tmp_path / "old", folder)

    saves = SavesKilledAt(path)
    fresh_folder()
    status, steps = saves.save(0)  # step 0 never comes: a whole save, to count its steps
    assert status == 0 and int(steps) > 30  # stale sweep, torch.save's writes, fsyncs, checksum records, rename
    in_place, left_temp = [], 0
    for kill_at in range(1, int(steps) + 1):
        fresh_folder()
        assert saves.save(kill_at) == (-signal.SIGKILL, "-")
        record = verify(path)  # whatever is in place is complete and matches its record
        saved = torch.load(path)
        assert saved["global_step"] == record["global_step"]
        assert bool((saved["state_dict"]["w"] == saved["global_step"]).all())
        in_place.append(saved["global_step"])
        leftovers = [p.name for p in folder.iterdir() if p.name not in ("last.ckpt", "last.ckpt.sum.json")]
        assert all(TEMP_MARK in name for name in leftovers)  # only temp names, which nothing treats as checkpoints
        left_temp += bool(leftovers)
        assert checkpoint_candidates(folder) == [path]
        save_verified(checkpoint(3, numel=20_000), path)  # the next save clears temp files left by the killed one
        assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt", "last.ckpt.sum.json"]
    saves.close()
    # early kills keep the old checkpoint, late ones the new one, and the switch happens once (at the rename)
    assert in_place == sorted(in_place) and in_place[0] == 1 and in_place[-1] == 2
    assert left_temp > int(steps) // 2  # most kill points fell while a temp file existed: inside the save proper


FULL_DISK = textwrap.dedent(
    """
    import json, subprocess, sys, torch
    from pathlib import Path
    from vlm_ocr.checkpointing.verified_files import CheckpointWriteError, save_verified, verify
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


def test_a_save_removes_only_the_temporary_files_of_writers_that_no_longer_run(tmp_path):
    """Another live process's half-written checkpoint is not 'stale'; a killed writer's leftovers are."""
    live = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(600)"])
    gone = subprocess.Popen([PYTHON, "-c", "pass"])
    gone.wait()
    host = os.uname().nodename
    try:
        live_temp = tmp_path / f".last.ckpt{TEMP_MARK}{host}-{live.pid}"
        dead_temp = tmp_path / f".last.ckpt{TEMP_MARK}{host}-{gone.pid}"
        other_host = tmp_path / f".last.ckpt{TEMP_MARK}elsewhere-{gone.pid}"
        for temp in (live_temp, dead_temp, other_host):
            temp.write_bytes(b"half a checkpoint")
        save_verified(checkpoint(1), tmp_path / "last.ckpt")
        assert live_temp.exists() and other_host.exists() and not dead_temp.exists()
        assert verify(tmp_path / "last.ckpt")["global_step"] == 1
    finally:
        live.kill()
        live.wait()
