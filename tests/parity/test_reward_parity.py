"""The GRPO rewards equal olmocr 0.4.27's own reward functions on the same completions (docs/grpo.md)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from reward_cases import (
    IM_END,
    MATH_TESTS,
    TESTS,
    RewardCase,
    build_bad_bench,
    build_bench,
    generated_cases,
    real_cases,
)
from reward_departures import BY_KEY, REWARD_DEPARTURES, docs_rows

from vlm_ocr.bench.training_pages import read_bench_pages
from vlm_ocr.rl.reward_pool import RewardPool
from vlm_ocr.rl.rewards import Completion, RewardScorer, RewardWeights

REPO = Path(__file__).resolve().parents[2]
SHARED_BENCH = REPO.parent / "shared" / "fixtures" / "bench"
ORIGINAL_VERSION = "0.4.27"
ORIGINAL_TYPES = {"present", "absent", "order", "table", "math", "baseline"}  # what 0.4.27's load_single_test knows


def missing_requirements() -> list[str]:
    """What importing the original's grpo_train needs here (olmocr, and trl, wandb, playwright it imports)."""
    try:
        found = importlib.metadata.version("olmocr")
        missing = [] if found == ORIGINAL_VERSION else [f"olmocr=={ORIGINAL_VERSION} (found {found})"]
    except importlib.metadata.PackageNotFoundError:
        missing = [f"olmocr=={ORIGINAL_VERSION} (make install)"]
    return missing + [
        f"{name} (make install)" for name in ("trl", "wandb", "playwright") if not importlib.util.find_spec(name)
    ]


def first_file_ids() -> dict[str, set[str]]:
    """Per page, the ids of its tests in the first test file naming it: all the original loads for it."""
    first: dict[str, tuple[str, set[str]]] = {}
    for name in sorted(TESTS):
        for row in TESTS[name] + (MATH_TESTS if name == "a_synth.jsonl" else []):
            key = f"{row['pdf']}::{row['page']}"
            file, ids = first.setdefault(key, (name, set()))
            if file == name:
                ids.add(row["id"])
    return {key: ids for key, (_, ids) in first.items()}


def score_ours(folder: Path, cases: list[RewardCase], chromium: str | None) -> list[tuple[float | None, ...]]:
    """vlm_ocr's rewards of the cases, each page's completions scored as one group in the reward pool."""
    pages = {page.key: page for page in read_bench_pages(folder).pages}
    scorer = RewardScorer(RewardWeights(), IM_END, "katex" if chromium else "skip", chromium or "chromium")
    keys = list(dict.fromkeys(case.key for case in cases))
    groups = [[case for case in cases if case.key == key] for key in keys]
    completions = [[Completion(c.text, c.ids[-1] if c.ids else None) for c in group] for group in groups]
    with RewardPool(scorer, workers=2) as pool:
        scored = pool.score([(pages[key], group) for key, group in zip(keys, completions, strict=True)])
    by_case = {}
    for group, rewards in zip(groups, scored, strict=True):
        for case, reward in zip(group, rewards, strict=True):
            by_case[id(case)] = reward
    return [by_case[id(case)] for case in cases]


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    missing = missing_requirements()
    if missing:
        pytest.skip("the original's GRPO rewards cannot run here; missing: " + "; ".join(missing))
    chromium = shutil.which("chromium")
    work = tmp_path_factory.mktemp("reward_parity")
    benches = [(build_bench(work / "bench", with_math=chromium is not None), generated_cases(chromium is not None))]
    if SHARED_BENCH.is_dir():
        benches.append((SHARED_BENCH, real_cases(SHARED_BENCH)))
    bad = build_bad_bench(work / "bad")
    spec = {
        "eos_token_id": IM_END,
        "benches": [
            {"folder": str(folder), "completions": _by_key([(c.key, [c.text, list(c.ids)]) for c in cases])}
            for folder, cases in benches
        ]
        + [{"folder": str(bad), "completions": {}}],
    }
    (work / "cases.json").write_text(json.dumps(spec))
    command = [sys.executable, str(Path(__file__).with_name("original_rewards.py")), str(work / "cases.json")]
    command += [str(work / "original.json")] + (["--chromium", chromium] if chromium else [])
    env = {**os.environ, "HOME": str(work / "home"), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    with open(work / "stderr.txt", "w") as stderr:
        original = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, cwd=work)
    try:
        ours = [score_ours(folder, cases, chromium) for folder, cases in benches]
        assert original.wait(timeout=600) == 0, (work / "stderr.txt").read_text()[-3000:]
    finally:
        original.kill()
    *theirs, bad_theirs = json.loads((work / "original.json").read_text())
    return {"benches": benches, "ours": ours, "theirs": theirs, "bad": (bad, bad_theirs)}


def _by_key(items: list[tuple[str, list]]) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for key, value in items:
        grouped.setdefault(key, []).append(value)
    return grouped


def test_docs_departure_table_equals_the_list():
    assert docs_rows(REPO / "docs" / "grpo.md") == [d.row() for d in REWARD_DEPARTURES]


def test_every_departure_has_a_case():
    used = {case.departure for case in generated_cases(with_math=True) if case.departure}
    assert used == set(BY_KEY), set(BY_KEY) ^ used


def test_pages_tests_and_references_match_the_original_dataset(parity):
    for (folder, _), theirs in zip(parity["benches"], parity["theirs"], strict=True):
        ours = {page.key: page for page in read_bench_pages(folder).pages}
        assert sorted(ours) == sorted(theirs["pages"])
        for key, page in ours.items():
            assert [t.id for t in page.tests] == theirs["pages"][key]["test_ids"], key
            assert page.reference == theirs["pages"][key]["reference"], key


def test_rewards_match_the_original(parity):
    first_file, unexplained, differing = first_file_ids(), [], set()
    for (_, cases), ours, theirs in zip(parity["benches"], parity["ours"], parity["theirs"], strict=True):
        expected = _align(cases, theirs["rewards"])
        for case, reward in zip(cases, ours, strict=True):
            _, unit_tests, front_matter, end_of_turn = expected[id(case)]
            got = (reward.components["unit_tests"], reward.components["front_matter"], reward.components["end_of_turn"])
            want = (unit_tests, front_matter, end_of_turn)
            where = f"{case.key} {case.text[:50]!r}"
            departure = BY_KEY.get(case.departure) if case.departure else None
            if departure is None:
                if got != want:
                    unexplained.append(f"{where}: vlm_ocr {got}, original {want}")
                continue
            if got != want:
                differing.add(departure.key)
            same = [
                i for i, name in enumerate(("unit_tests", "front_matter", "end_of_turn")) if name != departure.component
            ]
            if [got[i] for i in same] != [want[i] for i in same]:
                unexplained.append(f"{where}: {departure.key} changes {departure.component} only; {got} vs {want}")
            if departure.component == "unit_tests":  # the original's share is ours over the tests it loads
                kept = [
                    v for v in reward.verdicts if v.test_type in ORIGINAL_TYPES and v.test_id in first_file[case.key]
                ]
                if sum(v.passed for v in kept) / len(kept) != unit_tests:
                    unexplained.append(f"{where}: {departure.key}: ours over the original's tests != {unit_tests}")
            elif got == want:
                unexplained.append(f"{where}: meant to show {departure.key}, but both give {got}")
    assert not unexplained, "\n".join(unexplained)
    assert differing == set(BY_KEY)  # each departure showed on its cases
    compared = sum(len(cases) for _, cases in parity["benches"])
    assert compared >= 70 + 60 * SHARED_BENCH.is_dir()  # the comparison covered the cases, not an empty folder


def _align(cases: list[RewardCase], rows: list[list]) -> dict[int, list]:
    """Each case's row of the original's output: rows come page by page, a page's cases in their order."""
    queues: dict[str, list[list]] = {}
    for row in rows:
        queues.setdefault(row[0], []).append(row)
    return {id(case): queues[case.key].pop(0) for case in cases}


def test_bad_input_the_original_keeps_is_listed(parity):
    folder, theirs = parity["bad"]
    assert {key: page["test_ids"] for key, page in theirs["pages"].items()} == {
        "good.pdf::1": ["g1", "g2"],  # bad-test-line: kept in the page's ids, fails to load at reward time
        "gone.pdf::1": ["m1"],  # missing-pdf: kept, fails when rendered
    }
    ours = read_bench_pages(folder)
    assert [(p.key, [t.id for t in p.tests]) for p in ours.pages] == [("good.pdf::1", ["g1"])]
    listed = [str(s) for s in ours.skipped]
    assert any("tests.jsonl:2:" in line and "case" in line for line in listed), listed
    assert "test 'm1': names pdfs/gone.pdf, which does not exist" in listed
