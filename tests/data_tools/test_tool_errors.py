"""A user's mistakes, through `python -m data_tools`: one line naming the file or option and the fix, exit 2,
no traceback, nothing already written lost; and every input a tool leaves out is named with the reason."""

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from pdf_fixtures import SECRET_KEY, letter, make_pdf
from test_tool_olmocrmix import _mix

REPO = Path(__file__).resolve().parents[2]


def data_tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "data_tools", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONPATH": str(REPO)} | (env or {}),
    )


def assert_bad_input(result: subprocess.CompletedProcess, tool: str, *names: str) -> str:
    """Exit 2, no traceback, and a last stderr line `tool: error: <what> — <fix>` that names every one of `names`."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    what, sep, fix = line.partition(" — ")
    assert what.startswith(f"{tool}: error: ") and sep and fix, line
    assert all(name in line for name in names), line
    return line


@pytest.fixture
def kept(tmp_path) -> Path:
    """An output folder holding the result of an earlier run, which no failed run may touch."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "output_0.jsonl").write_text('{"custom_id": "earlier.pdf#page=1"}\n')
    return out


def assert_kept(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["output_0.jsonl"]
    assert (out / "output_0.jsonl").read_text() == '{"custom_id": "earlier.pdf#page=1"}\n'


@pytest.mark.parametrize("missing", ["report.pdf", "scans"])
def test_renderpdf_missing_source(tmp_path, kept, missing):
    line = assert_bad_input(data_tool("renderpdf", str(tmp_path / missing), str(kept)), "renderpdf", missing)
    assert "no such file or folder" in line and "glob" in line
    assert_kept(kept)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--path_list", "{tmp}/list.txt"], ["--path_list", "list.txt", "does not exist"]),
        ([], ["--glob_path", "--path_list"]),
        (["--glob_path", "{tmp}/nowhere/*.pdf"], ["--glob_path", "nowhere/*.pdf", "matches no file"]),
    ],
    ids=["missing-path-list", "no-arguments", "glob-matches-nothing"],
)
def test_buildsilver_with_nothing_to_do_fails(tmp_path, kept, args, names):
    args = [arg.format(tmp=tmp_path) for arg in args]
    assert_bad_input(data_tool("buildsilver", *args, "--output", str(kept)), "buildsilver", *names)
    assert_kept(kept)


def test_clean_olmocrmix_missing_input(tmp_path, kept):
    result = data_tool("clean_olmocrmix", str(tmp_path / "pairs"), str(kept), env={"OPENAI_API_KEY": "sk-unused"})
    assert_bad_input(result, "clean_olmocrmix", "input_dir", str(tmp_path / "pairs"), "does not exist")
    assert_kept(kept)


def test_process_openai_batch_results_with_no_result_files_fails(tmp_path, kept):
    results, pdfs = tmp_path / "batch_done", tmp_path / "pdfs"
    results.mkdir()
    pdfs.mkdir()
    (results / "_meta.json").write_text("{}")  # bookkeeping only: nothing to convert
    result = data_tool("process_openai_batch_results", str(results), str(pdfs), str(kept))
    assert_bad_input(result, "process_openai_batch_results", "batch_results_dir", "no result files", "_done")
    assert_kept(kept)


def test_repackage_olmocrmix_missing_input(tmp_path, kept):
    args = ["--processed_dir", str(tmp_path / "pairs"), "--subset", "a", "--split", "b", "--output_dir", str(kept)]
    assert_bad_input(data_tool("repackage_olmocrmix", *args), "repackage_olmocrmix", "--processed_dir", "pairs")
    assert_kept(kept)


@pytest.mark.parametrize("spelling", ["absolute", "relative"])
def test_prepare_olmocrmix_missing_local_folder_is_not_sent_to_the_hub(tmp_path, kept, spelling):
    missing = str(tmp_path / "mix") if spelling == "absolute" else "./no-such-mix-folder"
    args = ["--dataset_path", missing, "--subset", "00_documents", "--split", "train", "--destination", str(kept)]
    line = assert_bad_input(data_tool("prepare_olmocrmix", *args), "prepare_olmocrmix", "--dataset_path", missing)
    assert "no such folder" in line and "Repo id" not in line
    assert_kept(kept)  # nothing downloaded, nothing created


def test_prepare_olmocrmix_unreachable_hub_is_one_line(kept):
    args = ["--dataset_path", "org/no-such-mix", "--subset", "s", "--split", "t", "--destination", str(kept)]
    result = data_tool("prepare_olmocrmix", *args, env={"HF_HUB_OFFLINE": "1"})  # the hub, as seen offline
    assert_bad_input(result, "prepare_olmocrmix", "--dataset_path org/no-such-mix", "hub", "local copy")
    assert_kept(kept)


def test_runopenaibatch_refused_connection_is_one_line(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tmp_path / "requests"
    folder.mkdir()
    (folder / "output_0.jsonl").write_text('{"custom_id": "a.pdf#page=1"}\n')
    env = {"OPENAI_API_KEY": "sk-unused", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"}
    result = data_tool("runopenaibatch", str(folder), env=env)
    assert_bad_input(result, "runopenaibatch", f"127.0.0.1:{port}", "OPENAI_BASE_URL")
    assert result.stderr.count("Error") <= 1  # not three chained exceptions
    assert (folder / "output_0.jsonl").read_text() == '{"custom_id": "a.pdf#page=1"}\n'


@pytest.mark.parametrize("workers", ["1", "2"])
def test_clean_olmocrmix_stops_at_a_refused_connection_with_one_line(tmp_path, pair_tree, workers):
    """A server nobody can reach fails the run at the first pair, not every pair into errors.jsonl."""
    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "cleaned"
    env = {"OPENAI_API_KEY": "sk-unused", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"}
    result = data_tool("clean_olmocrmix", str(pair_tree), str(out), "--run.workers", workers, env=env)
    assert_bad_input(result, "clean_olmocrmix", f"127.0.0.1:{port}", "OPENAI_BASE_URL")
    written = sorted(p.name for p in out.rglob("*") if p.is_file()) if out.exists() else []
    assert not [name for name in written if name.endswith(".md")], written
    errors = out / "errors.jsonl"
    assert not errors.exists() or errors.read_text() == "", errors.read_text()


def test_buildsilver_names_what_its_filter_drops_and_takes_a_bare_no_filter(tmp_path):
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    (pdfs / "good.pdf").write_bytes(make_pdf([letter("A short scanned page.")]))
    (pdfs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a PDF")
    common = ["--glob_path", str(pdfs / "*.pdf"), "--run.workers", "1"]
    result = data_tool("buildsilver", *common, "--output", str(tmp_path / "filtered"))
    assert result.returncode == 0, result.stderr
    dropped = [json.loads(line) for line in (tmp_path / "filtered" / "dropped.jsonl").read_text().splitlines()]
    assert dropped == [{"item": "broken.pdf", "reason": "filtered: unreadable"}]
    # the original's bare flag (as the docs write it) turns the filter off: the broken PDF now fails instead
    result = data_tool("buildsilver", *common, "--no_filter", "--output", str(tmp_path / "unfiltered"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert json.loads((tmp_path / "unfiltered" / "_meta.json").read_text())["args"]["no_filter"] is True
    assert "broken.pdf" in (tmp_path / "unfiltered" / "errors.jsonl").read_text()
    assert not (tmp_path / "unfiltered" / "dropped.jsonl").exists()


def test_a_pdf_without_markdown_is_named(pair_tree, tmp_path):
    (pair_tree / "docs" / "lonely.pdf").write_bytes(make_pdf([letter("no md")]))
    args = ["--processed_dir", str(pair_tree), "--subset", "a", "--split", "b", "--output_dir", str(tmp_path / "hf")]
    result = data_tool("repackage_olmocrmix", *args)
    assert result.returncode == 0, result.stderr
    dropped = [json.loads(line) for line in (tmp_path / "hf" / "dropped.records.jsonl").read_text().splitlines()]
    assert dropped == [{"item": "docs/lonely.pdf", "reason": "no Markdown beside the PDF"}]


def test_a_tarball_with_an_unsafe_member_extracts_nothing(tmp_path):
    pdf = make_pdf([letter()])
    hf = _mix(tmp_path, [{"id": "doc0", "natural_text": "t"}, {"id": "early", "natural_text": "e"}], {"doc0.pdf": pdf})
    with tarfile.open(hf / "pdf_tarballs" / "s_t_00001.tar.gz", "w:gz") as tar:
        for name, data in (("early.pdf", pdf), ("../../../escaped.pdf", b"bad")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "dest"
    args = ["--dataset_path", str(hf), "--subset", "s", "--split", "t", "--destination", str(dest)]
    result = data_tool("prepare_olmocrmix", *args, "--run.workers", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    extracted = dest / "hugging_face" / "pdf_tarballs" / "extracted"
    assert "s_t_00001.tar.gz" in (extracted / "errors.extract.jsonl").read_text()
    assert sorted(p.relative_to(extracted).as_posix() for p in extracted.rglob("*.pdf")) == ["doc0.pdf"]
    out = dest / "processed_s_t"
    assert (out / "doc0.md").exists() and not (out / "early.md").exists()
    assert "early.pdf" in (out / "errors.jsonl").read_text()
    assert not list(tmp_path.rglob("escaped.pdf"))


def test_prepare_olmocrmix_defaults_to_the_recipe_mix():
    result = data_tool("prepare_olmocrmix", "--print_config")
    default = re.search(r"^dataset_path: (\S+)$", result.stdout, re.M).group(1)
    makefile = re.search(r"^MIX \?= (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    assert default == makefile == "allenai/olmOCR-mix-1025"


def test_help_describes_every_tool():
    result = data_tool("--help")
    assert result.returncode == 0
    lines = {line.split()[0]: line.split(maxsplit=1)[1] for line in result.stdout.splitlines() if line[:2] == "  "}
    assert len(lines) == 12
    assert lines["renderpdf"].startswith("Render PDF pages to PNG")
    assert lines["prepare_olmocrmix"].startswith("Hugging Face olmOCR-mix")
    assert all(len(description) > 30 for description in lines.values())


def test_renderpdf_missing_s3_bucket(s3_bucket, kept):
    result = data_tool("renderpdf", "s3://no-such-bucket/pdfs", str(kept))
    assert_bad_input(result, "renderpdf", "NoSuchBucket: no-such-bucket", "s3:// path")
    assert_kept(kept)


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (an ended orphan its new parent has not reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads worker pids from /proc")
def test_a_killed_data_tool_leaves_no_worker_behind(tmp_path):
    """kill -9 of a tool mid-run: its worker processes end too, instead of waiting forever on their queue."""
    (tmp_path / "long.pdf").write_bytes(make_pdf([letter(f"page {n}") for n in range(400)]))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "data_tools", "renderpdf", str(tmp_path / "long.pdf"), str(out)]
    tool = subprocess.Popen([*command, "--run.workers", "2"], cwd=REPO, env=os.environ | {"PYTHONPATH": str(REPO)})
    children = Path(f"/proc/{tool.pid}/task/{tool.pid}/children")
    try:
        deadline = time.monotonic() + 300  # a guard against a hang, not a timing
        while len(list(out.glob("long/page_*.json"))) < 2:
            assert tool.poll() is None and time.monotonic() < deadline, "the tool ended or never rendered a page"
            time.sleep(0.1)
        workers = [int(pid) for pid in children.read_text().split()]
        assert len(workers) >= 2, workers
        tool.kill()
        tool.wait(timeout=60)
        deadline = time.monotonic() + 60
        while any(running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if running(pid)], "workers left running after the tool was killed"
    finally:
        for pid in [tool.pid] + (workers if "workers" in locals() else []):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_server_that_echoes_the_api_key_gets_it_redacted_everywhere(tmp_path, pair_tree, openai_stub):
    """The key in a server's error reaches neither errors.jsonl nor the terminal, nor a bug's traceback."""
    openai_stub.echo_key = True
    env = {"OPENAI_API_KEY": SECRET_KEY, "OPENAI_BASE_URL": openai_stub.url + "/v1"}
    out = tmp_path / "cleaned"
    cleaned = data_tool("clean_olmocrmix", str(pair_tree), str(out), "--run.workers", "1", env=env)
    assert cleaned.returncode == 1 and "Incorrect API key provided: <OPENAI_API_KEY>" in cleaned.stderr
    errors = (out / "errors.jsonl").read_text()
    assert errors.count("Incorrect API key provided: <OPENAI_API_KEY>") == 3
    (tmp_path / "requests").mkdir()
    (tmp_path / "requests" / "output_0.jsonl").write_text('{"custom_id": "a.pdf#page=1"}\n')
    batch = data_tool("runopenaibatch", str(tmp_path / "requests"), env=env)
    assert batch.returncode == 1 and "Traceback" in batch.stderr  # the server's 400 is not a user's mistake
    assert "Incorrect API key provided: <OPENAI_API_KEY>" in batch.stderr
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET_KEY not in cleaned.stderr + batch.stderr and SECRET_KEY.encode() not in written
