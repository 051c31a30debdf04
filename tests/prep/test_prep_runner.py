"""map_items: resume, limit, drops, failures, _meta.json, pools, atomic links, and a real SIGKILL mid-run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlm_ocr.prep.runner import Drop, Link, RunArgs, map_items

REPO = Path(__file__).resolve().parents[2]


def square(n: int) -> dict:
    if n == 3:
        raise ValueError("three is bad")
    if n == 4:
        raise Drop("four is dropped")
    return {f"out/{n}.txt": f"{n * n}\n"}


def key(n: int) -> str:
    return f"out/{n}.txt"


@pytest.mark.parametrize("workers,pool", [(1, "thread"), (3, "thread"), (2, "process")])
def test_counts_outputs_errors_and_meta(tmp_path, workers, pool):
    counts = map_items(
        square,
        list(range(6)),
        tmp_path,
        RunArgs(workers=workers),
        tool="t",
        key=key,
        pool=pool,
        config={"x": Path("/a")},
    )
    assert (counts.processed, counts.skipped, counts.dropped, counts.failed) == (4, 0, 1, 1)
    assert counts.dropped_reasons == {"four is dropped": 1}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.txt", "1.txt", "2.txt", "5.txt"]
    assert (tmp_path / "out" / "5.txt").read_text() == "25\n"
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert errors == [{"item": "out/3.txt", "error": "ValueError: three is bad"}]
    meta = json.loads((tmp_path / "_meta.json").read_text())
    assert meta["tool"] == "t" and meta["args"] == {"x": "/a"}
    assert meta["counts"]["processed"] == 4 and meta["counts"]["dropped_reasons"] == {"four is dropped": 1}


def test_rerun_skips_done_items_and_overwrite_redoes_them(tmp_path):
    map_items(square, range(6), tmp_path, RunArgs(workers=1), tool="t", key=key)
    again = map_items(square, range(6), tmp_path, RunArgs(workers=1), tool="t", key=key)
    assert (again.processed, again.skipped, again.failed, again.dropped) == (0, 4, 1, 1)
    redo = map_items(square, range(6), tmp_path, RunArgs(workers=1, overwrite=True), tool="t", key=key)
    assert redo.processed == 4 and redo.skipped == 0


def test_limit_and_stop_after(tmp_path):
    counts = map_items(square, range(100), tmp_path / "a", RunArgs(workers=2, limit=3), tool="t", key=key)
    assert counts.processed == 3 and sorted(os.listdir(tmp_path / "a" / "out")) == ["0.txt", "1.txt", "2.txt"]
    counts = map_items(square, range(5, 100), tmp_path / "b", RunArgs(workers=3), tool="t", key=key, stop_after=4)
    assert counts.processed == 4 and sorted(os.listdir(tmp_path / "b" / "out")) == ["5.txt", "6.txt", "7.txt", "8.txt"]
    counts = map_items(square, range(5), tmp_path / "c", RunArgs(), tool="t", key=key, stop_after=0)
    assert counts.processed == 0 and not (tmp_path / "c" / "out").exists()


def test_bad_key_and_escaping_output_fail_alone(tmp_path):
    def bad_key(n):
        if n == 1:
            raise ValueError("unsafe id")
        return f"{n}.txt"

    def escape(n):
        return {"../outside.txt" if n == 2 else f"{n}.txt": "x"}

    counts = map_items(escape, range(3), tmp_path / "o", RunArgs(workers=1), tool="t", key=bad_key)
    assert (counts.processed, counts.failed) == (1, 2)
    assert not (tmp_path / "outside.txt").exists()
    errors = (tmp_path / "o" / "errors.jsonl").read_text()
    assert "unsafe id" in errors and "escapes" in errors


def test_links_are_relative_and_survive_a_move(tmp_path):
    target = tmp_path / "tree" / "data" / "a.pdf"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"%PDF")
    map_items(
        lambda n: {"x/a.pdf": Link(target)},
        [0],
        tmp_path / "tree" / "out",
        RunArgs(workers=1),
        tool="t",
        key=lambda n: "x/a.pdf",
    )
    link = tmp_path / "tree" / "out" / "x" / "a.pdf"
    assert os.readlink(link) == "../../data/a.pdf"
    (tmp_path / "tree").rename(tmp_path / "moved")
    assert (tmp_path / "moved" / "out" / "x" / "a.pdf").read_bytes() == b"%PDF"


KILL_SCRIPT = """
import sys, time
from vlm_ocr.prep.runner import RunArgs, map_items
def slow(n):
    time.sleep(0.02)
    return {f"{n:03d}.bin": bytes([n % 256]) * 200_000, f"{n:03d}.done": "ok"}
map_items(slow, range(60), sys.argv[1], RunArgs(workers=2), tool="kill", key=lambda n: f"{n:03d}.done")
"""


def test_sigkill_mid_run_loses_nothing_and_corrupts_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out)], cwd=REPO)
    deadline = time.time() + 30
    while time.time() < deadline and len(list(out.glob("*.done"))) < 10:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.stem for p in out.glob("*.done")}
    assert 10 <= len(done_before) < 60
    for stem in done_before:  # every finished item is whole
        assert (out / f"{stem}.bin").read_bytes() == bytes([int(stem) % 256]) * 200_000
    for path in out.glob("*.bin"):  # a .bin without .done is whole too (atomic) and will be rewritten
        assert path.stat().st_size == 200_000
    subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(out)], cwd=REPO, check=True, timeout=60)
    meta = json.loads((out / "_meta.json").read_text())
    assert meta["counts"]["skipped"] == len(done_before)
    assert meta["counts"]["processed"] == 60 - len(done_before)
    assert len(list(out.glob("*.done"))) == 60
    assert all(p.stat().st_size == 200_000 for p in out.glob("*.bin"))
