import json

import pytest

from vlm_ocr.cli import main


def bench(*args: str) -> int:
    return main(["bench", *args])


def test_cli_scores_fixture_and_writes_json(shared_bench, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert bench("--bench-dir", str(shared_bench), "--candidate", "olmocr_pipeline", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "Average Score: 90.2% ±" in printed
    assert "headers_footers.jsonl" in printed and "(18/19 tests)" in printed
    data = json.loads(out.read_text())
    assert data["candidate"] == "olmocr_pipeline"
    assert data["overall"] == pytest.approx((6 / 7 + 18 / 19) / 2)


def test_cli_takes_the_flags_with_underscores_and_bare_bools(shared_bench, tmp_path):
    out = tmp_path / "report.json"
    args = ["--bench_dir", str(shared_bench), "--candidate=olmocr_pipeline", "--skip-baseline", "--no_math"]
    assert bench(*args, "--bootstrap-samples", "20", "--seed", "-1", "--out", str(out)) == 0
    data = json.loads(out.read_text())
    assert data["candidate"] == "olmocr_pipeline" and data["seed"] is None


def test_cli_missing_bench_dir_names_the_path(tmp_path, capsys):
    missing = tmp_path / "no_bench_here"
    assert bench("--bench-dir", str(missing), "--candidate", "x") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"bench: error: benchmark folder not found: {missing}"


def test_cli_missing_candidate_names_the_path(shared_bench, capsys):
    assert bench("--bench-dir", str(shared_bench), "--candidate", "ghost") == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("bench: error: candidate folder not found") and "ghost" in line


def test_cli_requires_arguments(capsys):
    assert bench("--candidate", "x") == 2
    line = capsys.readouterr().err.strip()
    assert line == "bench: error: the following arguments are required: bench_dir (see python -m vlm_ocr bench --help)"


def test_experiment_options_without_predict_are_refused(shared_bench, capsys):
    assert bench("--bench-dir", str(shared_bench), "--candidate", "x", "--config", "tiny.yaml") == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == "bench: error: unrecognized arguments: --config tiny.yaml (experiment options need --predict)"
