import json
import logging

import pytest

from vlm_ocr.bench.cli import main


def test_cli_scores_fixture_and_writes_json(shared_bench, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["--bench-dir", str(shared_bench), "--candidate", "olmocr_pipeline", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Average Score: 90.2% ±" in printed
    assert "headers_footers.jsonl" in printed and "(18/19 tests)" in printed
    data = json.loads(out.read_text())
    assert data["candidate"] == "olmocr_pipeline"
    assert data["overall"] == pytest.approx((6 / 7 + 18 / 19) / 2)


def test_cli_missing_bench_dir_names_the_path(tmp_path, caplog):
    missing = tmp_path / "no_bench_here"
    with caplog.at_level(logging.ERROR):
        assert main(["--bench-dir", str(missing), "--candidate", "x"]) == 1
    assert f"benchmark folder not found: {missing}" in caplog.text


def test_cli_missing_candidate_names_the_path(shared_bench, caplog):
    with caplog.at_level(logging.ERROR):
        assert main(["--bench-dir", str(shared_bench), "--candidate", "ghost"]) == 1
    assert "candidate folder not found" in caplog.text and "ghost" in caplog.text


def test_cli_requires_arguments(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--candidate", "x"])
    assert exc.value.code == 2
    assert "--bench-dir" in capsys.readouterr().err
