"""Reading olmOCR-Bench JSONL test files into test objects (one JSON object per non-blank line)."""

from __future__ import annotations

import json
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


def load_tests(path: Path) -> list[BenchTest]:
    """All tests of one JSONL file, in file order; duplicate ids within the file are an error."""
    tests: list[BenchTest] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                test = build_test(json.loads(line))
            except (json.JSONDecodeError, TypeError, ValidationError, AttributeError) as exc:
                raise BenchDataError(f"{path}:{lineno}: {exc}") from exc
            if test.id in seen:
                raise BenchDataError(f"{path}:{lineno}: duplicate test id {test.id!r}")
            seen.add(test.id)
            tests.append(test)
    return tests
