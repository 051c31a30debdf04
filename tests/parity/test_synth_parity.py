"""Synthetic pages, case by case: vlm_ocr's tests and reference Markdown from a page's HTML against olmocr 0.4.27's
own `generate_tests_from_html` and `html_to_markdown_with_frontmatter`, same HTML, same seed (docs/parity.md)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from departures import readme_rows
from synth_cases import CASES, NESTED_OF, SEEDS
from synth_departures import BY_KEY, DEPARTURES, README_HEADING, RUN_DEPARTURES

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
        [sys.executable, str(script), "tests", str(work / "cases.json"), str(work / "out.json")],
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
    assert readme_rows(REPO / "README.md", README_HEADING) == [d.row() for d in DEPARTURES + RUN_DEPARTURES]


ANALYSIS = "A single-column page with a header, a table and a footer."  # what the local server answers


def test_the_conversation_and_the_render_are_the_originals(original, tmp_path):
    """The four requests (texts, image order, temperatures, token limits, thinking) and the one-page render, against
    the original's `generate_html_from_image` (a recording client) and `render_pdf_with_playwright`."""
    import base64

    import openai
    import pypdf
    from local_servers import OpenAIStub
    from reportlab.pdfgen import canvas

    from vlm_ocr.synth.conversation import ChatSettings, mine_html
    from vlm_ocr.synth.render import render_one_page, source_page

    chromium = shutil.which("chromium")
    if chromium is None or shutil.which("pdftoppm") is None:
        pytest.skip("the renders need Chromium and poppler-utils (apt-get install chromium poppler-utils)")
    report, draft = BY_NAME["report"].html, BY_NAME["colspan-shift"].html
    source = tmp_path / "source.pdf"
    page = canvas.Canvas(str(source), pagesize=(540, 720))  # the Letter aspect ratio, not Letter's size
    page.drawString(72, 648, "Soil moisture across the northern plots")
    page.save()
    png, geometry = source_page(source, 0)
    request = {
        "answers": ["RIGHT_SIDE_UP", ANALYSIS, f"```html\n{draft}\n```", f"Better:\n```html\n{report}\n```"],
        "image_base64": base64.b64encode(png).decode(),
    }
    (tmp_path / "request.json").write_text(json.dumps(request))
    script = [sys.executable, str(Path(__file__).with_name("original_synth.py")), "conversation"]
    done = subprocess.run(
        [*script, str(tmp_path / "request.json"), str(tmp_path / "out.json"), chromium],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads((tmp_path / "out.json").read_text())
    server = OpenAIStub().start()
    server.synth_pages = {"default": {"html": draft, "refined": report}}
    try:
        client = openai.OpenAI(api_key="sk-parity", base_url=server.url + "/v1", max_retries=0)
        mined = mine_html(client, ChatSettings("any-model", refine_thinking_tokens=12000), png, geometry, chromium)
    finally:
        server.stop()
    assert mined.html == theirs["html"] == report.strip()
    assert len(server.chat_requests) == len(theirs["requests"]) == 4
    for ours, original_request in zip(server.chat_requests, theirs["requests"], strict=True):
        their_parts, our_parts = original_request["messages"][0]["content"], ours["messages"][0]["content"]
        assert [p["type"] for p in our_parts] == [{"image": "image_url"}.get(p["type"], "text") for p in their_parts]
        assert [p["text"] for p in our_parts if p["type"] == "text"] == [
            p["text"] for p in their_parts if p["type"] == "text"
        ]
        assert our_parts[[p["type"] for p in our_parts].index("image_url")]["image_url"]["url"].endswith(
            their_parts[[p["type"] for p in their_parts].index("image")]["source"]["data"]
        )  # the page image, first of the request's images
        assert (ours["temperature"], ours["max_completion_tokens"]) == (
            original_request["temperature"],
            original_request["max_tokens"],
        )
        assert ours.get("thinking") == original_request.get("thinking")
    assert theirs["requests"][0]["model"] == "claude-sonnet-4-5-20250929" and ours["model"] == "any-model"
    render = theirs["render"]
    ours_pdf = pypdf.PdfReader(io.BytesIO(render_one_page(draft, geometry, chromium).pdf))
    box = ours_pdf.pages[0].mediabox
    assert render["pages"] == len(ours_pdf.pages) == 1
    assert sorted(ours_pdf.pages[0].extract_text().split()) == sorted(render["text"].split())
    assert (round(float(box.width)), round(float(box.height))) == (540, 720)
    assert [round(v) for v in render["size"]] == [612, 792]  # `page-size`: the original prints Letter
