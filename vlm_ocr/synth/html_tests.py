"""The unit tests of one page, made from its HTML alone (olmocr 0.4.27 `generate_tests_from_html`, departures in
README): absent, table, order, math and present tests, filtered, de-duplicated, with ids that derive from them."""

from __future__ import annotations

import hashlib
import json
import random

from bs4 import BeautifulSoup

from vlm_ocr.synth.markup import reference_markdown
from vlm_ocr.synth.table_tests import table_tests
from vlm_ocr.synth.text_tests import (
    Kinded,
    absence_tests,
    markdown_without_tables,
    math_tests,
    order_tests,
    presence_tests,
    sentences,
)

TEXT_FIELDS = ("text", "cell", "before", "after", "up", "down", "left", "right", "top_heading", "left_heading")
SCRIPT_CHARACTERS = "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜ"
LATEX_DELIMITERS = (r"\(", r"\)", r"\[", r"\]")


def generate_tests(html: str, pdf_id: str, pdf: str, rng: random.Random, *, present_tests: int = 0) -> list[dict]:
    """The page's tests as JSON objects, in the original's order; `pdf` is the path the tests name (relative to
    the bench's pdfs/), `pdf_id` the prefix of their ids; `rng` draws the cells, the pairs and the sentences."""
    soup = BeautifulSoup(html, "html.parser")
    for element in soup.find_all(["div", "span"], class_="line-number"):
        element.extract()
    for kind in ("header", "footer"):
        for div in soup.find_all("div", class_=f"page-{kind}"):
            div.name = kind
    cut_outside_running_content(soup)
    tests = absence_tests(soup, pdf) + table_tests(html, soup, pdf, rng)
    markdown, body = markdown_without_tables(reference_markdown(html))
    found = sentences(body)
    ordered, used = order_tests(found, pdf, rng)
    tests += ordered + math_tests(markdown, pdf) + presence_tests(found, used, pdf, rng, present_tests)
    tests = [(kind, t) for kind, t in tests if t["type"] != "absent" or t["text"] not in body]
    return _with_ids(_unique([(kind, t) for kind, t in tests if t["type"] == "math" or _plain_text(t)]), pdf_id)


def cut_outside_running_content(soup: BeautifulSoup) -> None:
    """Remove what comes before the first <header> and after the first <footer> of the body, at every level from
    the element up to the body (the original walks the body's children only, and so empties the whole body when
    the header sits inside a wrapper)."""
    body = soup.find("body")
    if body is None:
        return
    header, footer = soup.find("header"), soup.find("footer")
    for element, previous in ((header, True), (footer, False)):
        if element is None or body not in element.parents:
            continue
        while element is not body:
            siblings = element.previous_siblings if previous else element.next_siblings
            for sibling in list(siblings):
                sibling.extract()
            element = element.parent


def _plain_text(test: dict) -> bool:
    """Every text field has a letter or digit, and no LaTeX delimiter and no Unicode super/subscript."""
    for name in TEXT_FIELDS:
        if name in test:
            value = test[name]
            if not any(c.isalnum() for c in value) or any(d in value for d in LATEX_DELIMITERS):
                return False
            if any(c in SCRIPT_CHARACTERS for c in value):
                return False
    return True


def _signature(test: dict) -> tuple:
    return tuple(sorted((key, str(value)) for key, value in test.items() if key != "id"))


def _unique(tests: list[Kinded]) -> list[Kinded]:
    """The first of tests identical on everything but the id."""
    seen: set[tuple] = set()
    unique = []
    for kind, test in tests:
        if (signature := _signature(test)) not in seen:
            seen.add(signature)
            unique.append((kind, test))
    return unique


def _with_ids(tests: list[Kinded], pdf_id: str) -> list[dict]:
    """Ids `<pdf_id>_<kind>_<8 hex>` as the original's, the hex a hash of the test (the original's is uuid4's):
    the same HTML and seed give the same ids, and no two tests of a page share one."""
    for kind, test in tests:
        digest = hashlib.sha1(json.dumps([pdf_id, kind, _signature(test)]).encode()).hexdigest()[:8]
        test["id"] = f"{pdf_id}_{kind}_{digest}"
    return [test for _, test in tests]
