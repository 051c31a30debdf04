import io
import json

import pytest

from vlm_ocr.bench.bootstrap import stratified_bootstrap_ci
from vlm_ocr.bench.report import Outcome, build_report, format_report, write_report


def outcome(id_, group, status, passes=1, repeats=1, type_="present"):
    return Outcome(id_, type_, group, "d.pdf", 1, status, repeats, passes)


def test_bootstrap_is_deterministic_with_a_seed():
    groups = [[1, 0, 1, 1, 0, 1, 0, 1], [1, 1, 1, 0]]
    first = stratified_bootstrap_ci(groups, 500, 0.95, seed=7)
    assert stratified_bootstrap_ci(groups, 500, 0.95, seed=7) == first
    assert stratified_bootstrap_ci(groups, 500, 0.95, seed=8) != first
    low, high = first
    assert 0.0 <= low < (5 / 8 + 3 / 4) / 2 < high <= 1.0


def test_bootstrap_is_stratified_by_group():
    # Each group is constant, so every resample has group means 1 and 0: the mean of means is exactly 0.5.
    # A pooled bootstrap would centre on 1/101 instead.
    assert stratified_bootstrap_ci([[1.0], [0.0] * 100], 200, 0.95, seed=0) == (0.5, 0.5)


def test_bootstrap_edge_cases_and_level():
    assert stratified_bootstrap_ci([], 100) == (0.0, 0.0)
    assert stratified_bootstrap_ci([[], [1, 1]], 100) == (1.0, 1.0)  # empty groups are ignored
    data = [[1, 0] * 20]
    wide = stratified_bootstrap_ci(data, 1000, 0.95, seed=1)
    narrow = stratified_bootstrap_ci(data, 1000, 0.50, seed=1)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]


def test_build_report_scores():
    outcomes = [
        outcome("a", "x.jsonl", "pass"),
        outcome("b", "x.jsonl", "fail", passes=1, repeats=3),
        outcome("c", "baseline", "pass", type_="baseline"),
        outcome("m", "m.jsonl", "not_scored", passes=0, type_="math"),
    ]
    report = build_report("cand", "/bench", outcomes, [], bootstrap_samples=200, seed=3)
    assert report.overall == pytest.approx((0.5 + 1.0) / 2)
    assert [(g.name, g.passed, g.total, g.not_scored) for g in report.groups] == [
        ("baseline", 1, 1, 0),
        ("m.jsonl", 0, 0, 1),
        ("x.jsonl", 1, 2, 0),
    ]
    types = {t.type: (t.mean_frac, t.count, t.not_scored) for t in report.types}
    assert types["present"] == (pytest.approx((1 + 1 / 3) / 2), 2, 0)
    assert types["math"] == (None, 0, 1)
    assert report.ci[0] <= report.overall <= report.ci[1]
    failed = build_report("cand", "/bench", outcomes, ["boom"])
    assert failed.failed and failed.overall is None and failed.ci == (0.0, 0.0)


def test_write_report_text_and_json(tmp_path):
    outcomes = [outcome("a", "x.jsonl", "pass"), outcome("b", "x.jsonl", "fail", passes=0)]
    report = build_report("cand", "/bench", outcomes, [], seed=0)
    stream = io.StringIO()
    write_report(report, out=tmp_path / "r" / "report.json", stream=stream)
    text = stream.getvalue()
    assert "Average Score: 50.0% ±" in text
    assert "[FAIL] Test b on d.pdf page 1 average pass ratio: 0.000 (0/1 repeats passed)" in text
    assert "x.jsonl" in text and "(1/2 tests)" in text
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["overall"] == 0.5 and data["failed"] is False and data["not_scored"] == 0
    assert data["groups"] == [{"name": "x.jsonl", "passed": 1, "total": 2, "not_scored": 0, "score": 0.5}]
    assert [o["frac"] for o in data["outcomes"]] == [1.0, 0.0]
    assert data["seed"] == 0 and len(data["ci"]) == 2
    assert format_report(report) == text
