"""Reading olmOCR-Bench JSONL test files into test objects (one JSON object per non-blank line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlm_ocr.bench.checks import (
    BaselineTest,
    BenchTest,
    FootnoteTest,
    FormatTest,
    OrderTest,
    PresenceTest,
    ValidationError,
)
from vlm_ocr.bench.math_checks import MathTest
from vlm_ocr.bench.table_checks import TableTest

TEST_CLASSES: dict[str, type[BenchTest]] = {
    "present": PresenceTest,
    "absent": PresenceTest,
    "order": OrderTest,
    "table": TableTest,
    "math": MathTest,
    "baseline": BaselineTest,
    "format": FormatTest,
    "footnote": FootnoteTest,
}


class BenchDataError(ValueError):
    """The benchmark folder or one of its test files is unusable; the message names the file and line."""


def build_test(data: dict[str, Any]) -> BenchTest:
    """One test from its JSON object; unknown keys and bad values raise TypeError or ValidationError."""
    cls = TEST_CLASSES.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise ValidationError(f"unknown test type {data.get('type')!r}")
    return cls(**data)


def iter_tests(path: Path) -> Iterator[BenchTest | BenchDataError]:
    """Each non-blank line's test in file order, or the error naming `file:line` (bad JSON, unknown keys or
    values, an id already used in the file); the caller decides whether an error stops it or is skipped."""
    seen: set[str] = set()
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                test = build_test(json.loads(line))
            except (json.JSONDecodeError, TypeError, ValidationError, AttributeError) as exc:
                error = BenchDataError(f"{path}:{lineno}: {exc}")
                error.__cause__ = exc
                yield error
                continue
            if test.id in seen:
                yield BenchDataError(f"{path}:{lineno}: duplicate test id {test.id!r}")
                continue
            seen.add(test.id)
            yield test


def load_tests(path: Path) -> list[BenchTest]:
    """All tests of one JSONL file, in file order; the first bad line (or duplicate id) is an error."""
    tests: list[BenchTest] = []
    for item in iter_tests(path):
        if isinstance(item, BenchDataError):
            raise item
        tests.append(item)
    return tests
