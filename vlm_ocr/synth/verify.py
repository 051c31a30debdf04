"""Only tests the page's own reference Markdown passes: a test it fails (or an invalid one) is dropped and counted."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from vlm_ocr.bench.checks import ValidationError
from vlm_ocr.bench.loading import build_test
from vlm_ocr.katex.equation import EquationRenderer
from vlm_ocr.synth.html_tests import generate_tests


@dataclass
class CheckedTests:
    """The tests the reference passes, and per test type how many it failed."""

    kept: list[dict]
    failed: Counter = field(default_factory=Counter)


def keep_passing(tests: list[dict], reference: str, renderer: EquationRenderer | None) -> CheckedTests:
    """Run each test on the reference Markdown with the bench's scorer (math through `renderer`); keep the passes."""
    built = []
    checked = CheckedTests(kept=[])
    for test in tests:
        try:
            built.append((test, build_test(dict(test))))
        except (TypeError, ValidationError):
            checked.failed[f"{test['type']} (invalid)"] += 1
    latex = [eq for _, bench_test in built for eq in bench_test.render_requests(reference)]
    if latex and renderer is not None:
        renderer.render_many(list(dict.fromkeys(latex)))  # one browser launch for the whole page
    for test, bench_test in built:
        passed, _ = bench_test.run(reference, renderer)
        if passed:
            checked.kept.append(test)
        else:
            checked.failed[test["type"]] += 1
    return checked


def page_tests(
    html: str, pdf_id: str, pdf: str, reference: str, rng: random.Random, present_tests: int, renderer
) -> CheckedTests:
    """The page's tests from its HTML, plus its baseline test (the one the scorer adds to every page), checked on
    the page's reference Markdown."""
    tests = generate_tests(html, pdf_id, pdf, rng, present_tests=present_tests)
    tests.append({"pdf": pdf, "page": 1, "id": f"{pdf}_baseline", "type": "baseline"})
    return keep_passing(tests, reference, renderer)
