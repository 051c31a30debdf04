"""The command lines: every tool's --help, the dispatcher in sync with the files, spec flag spellings."""

import subprocess
import sys
from pathlib import Path

import pytest
from pdf_fixtures import letter, make_pdf

from data_tools.__main__ import TOOLS, tool_mains
from data_tools.__main__ import main as dispatch
from vlm_ocr.verbs import run_verb

REPO = Path(__file__).resolve().parents[2]
TOOL_FILES = sorted(p.stem for p in (REPO / "data_tools").glob("*.py") if not p.stem.startswith("_"))


def test_dispatcher_matches_the_tool_files():
    assert sorted(TOOLS) == TOOL_FILES
    assert len(TOOLS) == 12
    assert all(callable(main) and main.__doc__ for main in tool_mains().values())


@pytest.mark.parametrize("tool", TOOL_FILES)
def test_every_tool_has_help(tool, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_verb(tool_mains()[tool], ["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--run.workers" in text or tool == "runopenaibatch"
    assert "--print_config" in text


def test_spec_flag_spellings_are_accepted():
    seen = {}

    def tool(source: str, *, max_examples: int = 0, dataset_path: str = "", keep_going: bool = False) -> int:
        """A tool.

        Args:
            source: input.
            max_examples: most examples.
            dataset_path: where.
            keep_going: go on.
        """
        seen.update(source=source, max_examples=max_examples, dataset_path=dataset_path, keep_going=keep_going)
        return 0

    args = ["--max-examples", "3", "--dataset-path=x", "--keep-going", "pos-arg"]
    assert run_verb(tool, args, prog="python -m data_tools tool") == 0
    assert seen == {"source": "pos-arg", "max_examples": 3, "dataset_path": "x", "keep_going": True}


def test_dispatcher_runs_a_tool_and_modules_run_standalone(tmp_path, capsys):
    (tmp_path / "one.pdf").write_bytes(make_pdf([letter("cli")]))
    with pytest.raises(SystemExit) as exit_:
        dispatch(
            [
                "renderpdf",
                str(tmp_path / "one.pdf"),
                str(tmp_path / "out"),
                "--longest-side",
                "100",
                "--run.workers",
                "1",
            ]
        )
    assert exit_.value.code == 0 and (tmp_path / "out" / "one" / "page_0001.png").exists()
    with pytest.raises(SystemExit) as exit_:
        dispatch(["--help"])
    assert exit_.value.code == 0 and "prepare_national_archive_transcripts" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        dispatch(["no_such_tool"])
    assert exit_.value.code == 2
    result = subprocess.run(
        [sys.executable, "-m", "data_tools.renderpdf", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "--longest_side" in result.stdout


def test_required_flags_and_positionals_follow_the_spec(capsys):
    # --destination missing
    assert run_verb(tool_mains()["prepare_olmocrmix"], ["--subset", "a", "--split", "b"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("prepare_olmocrmix: error: ") and "destination" in line and "\n" not in line
    assert run_verb(tool_mains()["process_openai_batch_results"], ["only-one-positional"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("process_openai_batch_results: error: ") and "original_pdf_dir" in line
