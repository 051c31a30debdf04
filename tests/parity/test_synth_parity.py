"""Synthetic pages, case by case: vlm_ocr's tests and reference Markdown from a page's HTML against olmocr 0.4.27's
own `generate_tests_from_html` and `html_to_markdown_with_frontmatter`, same HTML, same seed (docs/parity.md)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from departures import readme_rows
from synth_cases import CASES, NESTED_OF, SEEDS
from synth_departures import BY_KEY, DEPARTURES, README_HEADING

from vlm_ocr.bench.loading import build_test
from vlm_ocr.bench.table_checks import TableTest
from vlm_ocr.katex.render import find_renderer
from vlm_ocr.synth.grid import table_shape_problem
from vlm_ocr.synth.html_tests import generate_tests
from vlm_ocr.synth.markup import reference_markdown
from vlm_ocr.synth.verify import page_tests

REPO = Path(__file__).resolve().parents[2]
ORIGINAL_VERSION = "0.4.27"
IMPORTED_BY_THE_ORIGINAL = ("markdownify", "syntok", "playwright")  # besides bs4, pypdf, tqdm (installed anyway)
BY_NAME = {case.name: case for case in CASES}
_YAML_WORDS = r"y|n|yes|no|on|off|true|false|null|none"


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> dict[tuple[str, int], dict]:
    try:
        version = importlib.metadata.version("olmocr")
    except importlib.metadata.PackageNotFoundError:
        version = None
    missing = [f"olmocr=={ORIGINAL_VERSION} (make install)"] if version != ORIGINAL_VERSION else []
    missing += [f"{name} (make install)" for name in IMPORTED_BY_THE_ORIGINAL if not importlib.util.find_spec(name)]
    if missing:
        pytest.skip("the original's code cannot run here; missing: " + "; ".join(missing))
    work = tmp_path_factory.mktemp("synth-parity")
    cases = [
        {"name": f"{case.name}:{seed}", "html": case.html, "pdf_id": case.name, "page": 1, "seed": seed}
        for case in CASES
        for seed in SEEDS
    ]
    (work / "cases.json").write_text(json.dumps(cases))
    script = Path(__file__).with_name("original_synth.py")
    done = subprocess.run(
        [sys.executable, str(script), str(work / "cases.json"), str(work / "out.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((work / "out.json").read_text())
    return {(name.split(":")[0], int(name.split(":")[1])): result for name, result in results.items()}


@pytest.fixture(scope="module")
def renderer():
    found, note = find_renderer("chromium")
    if found is None:
        pytest.skip(f"math tests of the reference need KaTeX in Chromium: {note}")
    return found


def without_ids(tests: list[dict]) -> list[dict]:
    return [{key: value for key, value in test.items() if key != "id"} for test in tests]


def kinds(tests: list[dict]) -> list[str]:
    """The id without its 8 hex digits: `<pdf_id>_<kind>_`."""
    return [test["id"][:-8] for test in tests]


def checked_by_the_scorer(tests: list[dict], html: str) -> list[dict]:
    """`table-scorer`: the original's tests without the table tests vlm_ocr's scorer fails on their own table."""
    tables = BeautifulSoup(html, "html.parser").find_all("table")
    kept = []
    for test in tests:
        if test["type"] == "table":
            index = int(re.search(r"_table(\d+)_[0-9a-f]{8}$", test["id"]).group(1))
            fields = {key: value for key, value in test.items() if key != "ignore_markdown_tables"}
            if not TableTest(**fields).run(str(tables[index]))[0]:
                continue
        kept.append(test)
    return kept


def quoted_language(markdown: str) -> str:
    """`language-quoting`: a language YAML would misread, quoted, as the front-matter writer quotes it."""
    return re.sub(
        rf"^primary_language: ({_YAML_WORDS})$", r"primary_language: '\1'", markdown, count=1, flags=re.M | re.I
    )


def passes(test: dict, reference: str, renderer) -> bool:
    return build_test(dict(test)).run(reference, renderer)[0]


def expected_tests(original: dict, case_name: str, seed: int) -> tuple[list[dict], str]:
    """What vlm_ocr must make for a case, from the original's output (a wrapped page: that of its unwrapped one)."""
    source = NESTED_OF.get(case_name, case_name)
    result = original[(source, seed)]
    return checked_by_the_scorer(result["tests"], BY_NAME[source].html), quoted_language(result["markdown"])


@pytest.mark.parametrize("case", [c for c in CASES if c.departure != "ragged-table"], ids=lambda c: c.name)
def test_tests_and_reference_equal_the_originals_but_for_the_departures(case, original, renderer):
    pdf_id = NESTED_OF.get(case.name, case.name)
    pdf = f"{pdf_id}_page1.pdf"
    for seed in SEEDS:
        expected, markdown = expected_tests(original, case.name, seed)
        ours = generate_tests(case.html, pdf_id, pdf, random.Random(seed))
        assert without_ids(ours) == without_ids(expected), (case.name, seed)
        assert kinds(ours) == kinds(expected)
        reference = reference_markdown(case.html)
        assert reference == markdown, (case.name, seed)
        checked = page_tests(case.html, pdf_id, pdf, reference, random.Random(seed), 0, renderer)
        baseline = {"pdf": pdf, "page": 1, "type": "baseline"}
        wanted = [t for t in expected if passes(t, markdown, renderer)] + [baseline]
        assert without_ids(checked.kept) == without_ids(wanted), (case.name, seed)
        assert sum(checked.failed.values()) == len(expected) - len(wanted) + 1


def test_every_departure_shows_in_a_case(original, renderer):
    shown = {}
    report = BY_NAME["report"]
    first = generate_tests(report.html, "report", "report_page1.pdf", random.Random(0))
    again = generate_tests(report.html, "report", "report_page1.pdf", random.Random(0))
    original_ids = [t["id"] for t in original[("report", 0)]["tests"]]
    shown["test-ids"] = [t["id"] for t in first] == [t["id"] for t in again] and set(original_ids).isdisjoint(
        t["id"] for t in first
    )
    expected, markdown = expected_tests(original, "report", 0)
    shown["reference-passes"] = any(not passes(t, markdown, renderer) for t in expected)
    colspan = original[("colspan-shift", 0)]["tests"]
    shown["table-scorer"] = len(checked_by_the_scorer(colspan, BY_NAME["colspan-shift"].html)) < len(colspan)
    nested, flat = original[("nested-header", 0)]["tests"], original[("report", 0)]["tests"]
    lost = {"absent", "table"} & {t["type"] for t in flat} - {t["type"] for t in nested}
    shown["nested-header"] = lost == {"absent", "table"}
    ragged = BY_NAME["ragged-table"]
    shown["ragged-table"] = bool(original[("ragged-table", 0)].get("tests")) and bool(table_shape_problem(ragged.html))
    reference = reference_markdown(report.html)
    checked = page_tests(report.html, "report", "report_page1.pdf", reference, random.Random(0), 0, renderer)
    shown["baseline-line"] = checked.kept[-1]["type"] == "baseline" and "baseline" not in {t["type"] for t in flat}
    many = BY_NAME["many-sentences"]
    with_present = generate_tests(many.html, "many-sentences", "m.pdf", random.Random(0), present_tests=5)
    without = generate_tests(many.html, "many-sentences", "m.pdf", random.Random(0), present_tests=0)
    present = [t for t in with_present if t["type"] == "present"]
    shown["present-tests"] = len(present) == 5 and [t for t in with_present if t["type"] != "present"] == without
    norwegian = original[("norwegian", 0)]["markdown"]
    shown["language-quoting"] = "primary_language: no\n" in norwegian and "primary_language: 'no'\n" in (
        reference_markdown(BY_NAME["norwegian"].html)
    )
    assert shown == dict.fromkeys(BY_KEY, True)
    assert {case.departure for case in CASES if case.departure} <= set(BY_KEY)


def test_readme_lists_the_departures():
    assert readme_rows(REPO / "README.md", README_HEADING) == [d.row() for d in DEPARTURES]
