"""The `table` test: a cell exists in some Markdown or HTML table with the expected neighbours and headings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rapidfuzz import fuzz

from vlm_ocr.bench.checks import BenchTest, Verdict, diff_threshold
from vlm_ocr.bench.normalize import normalize_text
from vlm_ocr.bench.tables import Cell, TableData, find_tables

if TYPE_CHECKING:
    from vlm_ocr.katex.equation import EquationRenderer

_MIN_THRESHOLD = 0.5  # tables (only) floor the similarity threshold at 0.5

_RELATIONS: dict[str, Callable[[TableData, Cell], set[Cell]]] = {
    "up": lambda t, c: t.up[c],
    "down": lambda t, c: t.down[c],
    "left": lambda t, c: t.left[c],
    "right": lambda t, c: t.right[c],
    "left_heading": TableData.left_headings,
    "top_heading": TableData.top_headings,
}


@dataclass(kw_only=True)
class TableTest(BenchTest):
    """Target `cell` plus optional neighbour (`up`/`down`/`left`/`right`) and heading constraints."""

    cell: str
    up: str = ""
    down: str = ""
    left: str = ""
    right: str = ""
    top_heading: str = ""
    left_heading: str = ""
    ignore_markdown_tables: bool = False

    allowed_types: ClassVar[tuple[str, ...]] = ("table",)

    def __post_init__(self) -> None:
        super().__post_init__()
        # Normalised but not checked for emptiness, as upstream.
        for name in ("cell", *_RELATIONS):
            setattr(self, name, normalize_text(getattr(self, name)))

    def _threshold(self, target: str) -> float:
        return max(_MIN_THRESHOLD, diff_threshold(self.max_diffs, target))

    def run(self, content: str, renderer: EquationRenderer | None = None) -> Verdict:
        tables = find_tables(content, include_markdown=not self.ignore_markdown_tables)
        if not tables:
            return False, "No tables found in the content"
        threshold = self._threshold(self.cell)
        reasons: list[str] = []
        for table in tables:
            for key, text in table.cell_text.items():
                if fuzz.ratio(self.cell, normalize_text(text)) / 100.0 < threshold:
                    continue
                failed = [reason for name in _RELATIONS if (reason := self._check(table, key, name))]
                if not failed:
                    return True, ""
                reasons.extend(failed)
        if not reasons:
            return False, f"no cell matching {self.cell!r} in any table (threshold {threshold:.3f})"
        return False, f"cells matching {self.cell!r} found but relations failed: {'; '.join(reasons)}"

    def _check(self, table: TableData, key: Cell, name: str) -> str:
        """Empty string if the relation holds (or is unset), else the reason it failed."""
        expected = getattr(self, name)
        if not expected:
            return ""
        best_score, best_text = 0.0, None
        for other in _RELATIONS[name](table, key):
            text = normalize_text(table.cell_text[other])
            score = fuzz.ratio(expected, text) / 100.0
            if score >= self._threshold(expected):
                return ""
            if score > best_score:
                best_score, best_text = score, text
        return f"{name} is {best_text!r}, expected {expected!r} (best similarity {best_score:.2f})"
