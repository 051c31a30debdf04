"""Every data tool, through `python -m data_tools`, with an output path it cannot write (a file in the way, a
read-only filesystem): one line naming it, exit 2, no traceback, before any work."""

import contextlib
import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pdf_fixtures import letter, make_pdf
from test_tool_olmocrmix import _mix

from data_tools.__main__ import TOOLS
from data_tools.__main__ import main as dispatch

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def unused_port() -> int:
    with socket.socket() as sock:  # nobody listens once it is closed: a tool that reached the server would fail
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tool_inputs(root: Path) -> dict[str, list[str]]:
    """Valid inputs for each tool, its output path left as `{out}`."""
    pdf = make_pdf([letter("A page.")])
    (root / "pdfs").mkdir()
    (root / "pdfs" / "one.pdf").write_bytes(pdf)
    pairs = root / "pairs"
    pairs.mkdir()
    (pairs / "a.pdf").write_bytes(pdf)
    (pairs / "a.md").write_text(
        "---\nprimary_language: en\nis_rotation_valid: True\nrotation_correction: 0\nis_table: False\n"
        "is_diagram: False\n---\nText"
    )
    requests = root / "requests"
    requests.mkdir()
    (requests / "output_0.jsonl").write_text('{"custom_id": "one.pdf#page=1"}\n')
    results = root / "results_done"
    results.mkdir()
    (results / "b1.jsonl").write_text('{"custom_id": "one.pdf", "response": null, "error": null}\n')
    workspace = root / "ws"
    (workspace / "results").mkdir(parents=True)
    doc = {"id": "abcdef12", "text": "x", "metadata": {"Source-File": str(root / "pdfs" / "one.pdf")}}
    (workspace / "results" / "output_1.jsonl").write_text(json.dumps(doc) + "\n")
    (root / "csvs").mkdir()
    with open(root / "csvs" / "c.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["Asset", "AssetStatus", "DownloadUrl", "Transcription"])
        writer.writeheader()
        writer.writerow({"Asset": "a", "AssetStatus": "completed", "DownloadUrl": "http://127.0.0.1:9/a.jpg"})
    (root / "nara" / "s").mkdir(parents=True)
    (root / "nara" / "s" / "b.jsonl").write_text(json.dumps({"record": {"naId": 1, "digitalObjects": []}}) + "\n")
    mix = _mix(root, [{"id": "doc0", "natural_text": "t"}], {"doc0.pdf": pdf})
    return {
        "renderpdf": [str(root / "pdfs" / "one.pdf"), "{out}"],
        "buildsilver": ["--glob_path", str(root / "pdfs" / "*.pdf"), "--output", "{out}"],
        "runopenaibatch": [str(requests), "--output_dir", "{out}"],
        "build_openai_batch_from_olmocrmix": [str(pairs), "--output_dir", "{out}"],
        "process_openai_batch_results": [str(results), str(root / "pdfs"), "{out}"],
        "clean_olmocrmix": [str(pairs), "{out}"],
        "prepare_olmocrmix": ["--dataset_path", str(mix), "--subset", "s", "--split", "t", "--destination", "{out}"],
        "repackage_olmocrmix": ["--processed_dir", str(pairs), "--subset", "a", "--split", "b", "--output_dir"]
        + ["{out}"],
        "prepare_workspace": [str(workspace), "{out}"],
        "prepare_loc_transcripts": ["--input_dir", str(root / "csvs"), "--output_dir", "{out}"],
        "prepare_national_archive_transcripts": ["--input_dir", str(root / "nara"), "--output_dir", "{out}"],
        "mine_html_pages": ["--pdfs", str(root / "pdfs" / "*.pdf"), "--out", "{out}", "--model", "m"],
    }


def tool_env() -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-unused", "OPENAI_BASE_URL": f"http://127.0.0.1:{unused_port()}/v1"}


def run_tool(tool: str, args: list[str]) -> tuple[int, str]:
    """`python -m data_tools TOOL ARGS` in this process: (exit status, stderr); a traceback fails the test."""
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(buffer):
        for key, value in tool_env().items():
            patch.setenv(key, value)
        with pytest.raises(SystemExit) as stopped:
            dispatch([tool, *args])
    return stopped.value.code, buffer.getvalue()


def assert_one_line(status: int, stderr: str, tool: str, *names: str) -> None:
    assert status == 2, (status, stderr)
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"{tool}: error: ") and all(name in line for name in names), line


@pytest.mark.parametrize("tool", TOOLS)
def test_an_output_path_that_is_a_file_is_one_line(tool, tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("an earlier result")
    args = [arg.format(out=out) for arg in tool_inputs(tmp_path)[tool]]
    assert_one_line(*run_tool(tool, args), tool, str(out), "is a file, not a folder")
    assert out.read_text() == "an earlier result"


READ_ONLY = textwrap.dedent(
    """
    import contextlib, io, json, subprocess, sys
    from data_tools.__main__ import main
    folder, tools = sys.argv[1], json.loads(sys.argv[2])
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", folder]).returncode != 0:
        sys.exit(3)
    results = {}
    for tool, args in tools.items():
        buffer = io.StringIO()
        with contextlib.redirect_stderr(buffer):
            try:
                main([tool, *args])
            except SystemExit as stopped:
                results[tool] = [stopped.code, buffer.getvalue()]
            except Exception as error:
                results[tool] = [-1, f"Traceback: {type(error).__name__}: {error}"]
    print(json.dumps(results))
    """
)


def test_a_read_only_output_folder_is_one_line_for_every_tool(tmp_path):
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    out = frozen / "out"
    tools = {tool: [arg.format(out=out) for arg in args] for tool, args in tool_inputs(tmp_path).items()}
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    command = ["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-c", READ_ONLY, str(frozen)]
    env = os.environ | {"PYTHONPATH": f"{REPO}{os.pathsep}{HERE}"} | tool_env()
    done = subprocess.run([*command, json.dumps(tools)], cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode == 3 or done.stderr.startswith("unshare:"):
        pytest.skip(f"cannot mount a read-only filesystem here: {done.stderr.strip()[-200:]}")
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for tool, (status, stderr) in results.items():
        line = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        assert status == 2 and "Traceback" not in stderr, (tool, stderr[-2000:])
        assert line.startswith(f"{tool}: error: ") and "Read-only file system" in line and str(frozen) in line, line
