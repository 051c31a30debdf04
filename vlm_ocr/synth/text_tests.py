"""Text tests of a page: absent (running headers, footers, page numbers), order and present (sentence pairs and
sentences of the reference Markdown), math (each expression): olmocr 0.4.27's steps 1, 3 and 4."""

from __future__ import annotations

import random
import re

from bs4 import BeautifulSoup
from syntok.segmenter import process

from vlm_ocr.synth.markup import convert_superscripts_subscripts

Kinded = tuple[str, dict]  # (the id's kind label, the test's JSON object)
LEAF_TAGS = ["span", "div", "p", "h3", "h4", "h5", "h6"]
MAX_ORDER_TESTS = 6
MAX_MATH_TESTS = 50
MATH_PATTERNS = (r"\$\$(.+?)\$\$", r"\\\((.+?)\\\)", r"\\\[(.+?)\\\]")
_TABLE = re.compile(r"<table[^>]*>.*?</table>", re.DOTALL | re.IGNORECASE)
_IMAGE = re.compile(r"!\[.*?\]\(.*?\)")


def absence_tests(soup: BeautifulSoup, pdf: str) -> list[Kinded]:
    """An absent test per text leaf of every <header> and <footer> (h1/h2 left out), and per div.page-number."""
    tests: list[Kinded] = []
    for kind in ("header", "footer"):
        for element in soup.find_all(kind):
            for text in _leaf_texts(element):
                text = text.split("\n")[0]
                if len(text) > 3 or any(c.isdigit() for c in text):
                    tests.append((kind, _absent(pdf, text, round(len(text) * 0.05))))
    for element in soup.find_all("div", class_="page-number"):
        mini = BeautifulSoup(str(element), "html.parser")
        convert_superscripts_subscripts(mini)
        if text := mini.get_text().strip():
            tests.append(("page_number", _absent(pdf, text, 0)))
    return tests


def _leaf_texts(element) -> list[str]:
    mini = BeautifulSoup(str(element), "html.parser")
    convert_superscripts_subscripts(mini)
    for heading in mini.find_all(["h1", "h2"]):
        heading.extract()
    texts = [text for tag in mini.find_all(LEAF_TAGS) if not tag.find(LEAF_TAGS) if (text := tag.get_text().strip())]
    if not texts and (whole := mini.get_text().strip()):
        texts.append(whole)
    return texts


def _absent(pdf: str, text: str, max_diffs: int) -> dict:
    return {"pdf": pdf, "page": 1, "id": "", "type": "absent", "text": text, "max_diffs": max_diffs}


def markdown_without_tables(markdown: str) -> tuple[str, str]:
    """(the reference Markdown with its HTML tables cut out, the same without its front matter)."""
    markdown = _TABLE.sub("", markdown)
    lines = markdown.split("\n")
    start = 0
    if lines[0] == "---":
        start = next((idx + 1 for idx, line in enumerate(lines[1:], 1) if line == "---"), 0)
    return markdown, "\n".join(lines[start:]).strip()


def sentences(text: str) -> list[str]:
    """syntok's sentences of the Markdown body, without HTML, image placeholders, heading marks or list dashes."""
    found = []
    for paragraph in process(text) if text else ():
        for sentence in paragraph:
            line = "".join(token.spacing + token.value for token in sentence).strip()
            if not line or line.startswith("<") or line.endswith(">") or _IMAGE.search(line):
                continue
            line = line.lstrip("#").strip()
            line = line.removeprefix("- ").strip()
            if line:
                found.append(line)
    return found


def order_tests(found: list[str], pdf: str, rng: random.Random) -> tuple[list[Kinded], set[int]]:
    """Up to 6 order tests over random sentence pairs; also the indexes of the sentences they use."""
    indexes = list(range(len(found)))
    rng.shuffle(indexes)
    pairs = [tuple(sorted(indexes[2 * i : 2 * i + 2])) for i in range(len(indexes) // 2)]
    tests: list[Kinded] = []
    used: set[int] = set()
    for i, j in pairs:
        if len(found[i]) < 5 or len(found[j]) < 5:
            continue
        before, after = found[i].split("\n")[0].strip(), found[j].split("\n")[0].strip()
        max_diffs = round(max(len(before), len(after)) * 0.02)
        if max_diffs > len(before) // 4 or max_diffs > len(after) // 4:
            continue
        test = {"pdf": pdf, "page": 1, "id": "", "type": "order", "before": before, "after": after}
        tests.append(("order", test | {"max_diffs": max_diffs}))
        used |= {i, j}
        if len(tests) >= MAX_ORDER_TESTS:
            break
    return tests, used


def presence_tests(found: list[str], used: set[int], pdf: str, rng: random.Random, limit: int) -> list[Kinded]:
    """Up to `limit` present tests on random sentences no order test uses (drawn after the original's draws)."""
    candidates = [i for i in range(len(found)) if i not in used and len(found[i].split("\n")[0].strip()) >= 5]
    rng.shuffle(candidates)
    tests: list[Kinded] = []
    for i in candidates[:limit]:
        text = found[i].split("\n")[0].strip()
        test = {"pdf": pdf, "page": 1, "id": "", "type": "present", "text": text, "max_diffs": round(len(text) * 0.02)}
        tests.append(("present", test))
    return tests


def math_tests(markdown: str, pdf: str) -> list[Kinded]:
    r"""A math test per distinct expression in $$..$$, \(..\) or \[..\] (longer than 2 characters), up to 50."""
    equations = []
    for pattern in MATH_PATTERNS:
        equations += [match.strip() for match in re.findall(pattern, markdown, re.DOTALL) if len(match.strip()) > 2]
    unique = list(dict.fromkeys(equations))[:MAX_MATH_TESTS]
    fields = {"max_diffs": 0, "ignore_dollar_delimited": True}
    return [("math", {"pdf": pdf, "page": 1, "id": "", "type": "math", "math": eq} | fields) for eq in unique]
