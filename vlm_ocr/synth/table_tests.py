"""Table tests of a page's HTML: sampled cells with their neighbours and headings (olmocr 0.4.27's step 2).

Each candidate is kept only when the scorer (vlm_ocr.bench's TableTest) passes it on its own table's HTML, where
the original checks it with its 0.4.27 scorer, whose grid shifts the cells after a colspan.
"""

from __future__ import annotations

import random

from bs4 import BeautifulSoup

from vlm_ocr.bench.table_checks import TableTest
from vlm_ocr.synth.grid import GridTable, grid_tables
from vlm_ocr.synth.markup import convert_superscripts_subscripts

MAX_TESTS_PER_TABLE = 25
"""The original stops a table once more than this many of its tests passed."""
RELATIONS = ("up", "down", "left", "right", "top_heading", "left_heading")
Kinded = tuple[str, dict]  # (the id's kind label, the test's JSON object)


def table_tests(html: str, checked_soup: BeautifulSoup, pdf: str, rng: random.Random) -> list[Kinded]:
    """Tests for every table of at least 2x2 cells; `checked_soup` holds the tables each test is checked on
    (the page after its header/footer clean-up, as the original)."""
    unicode_soup = BeautifulSoup(html, "html.parser")
    convert_superscripts_subscripts(unicode_soup)
    html_tables = checked_soup.find_all("table")
    tests: list[Kinded] = []
    for table_idx, grid in enumerate(grid_tables(str(unicode_soup))):
        rows, cols = grid.shape
        if rows < 2 or cols < 2:
            continue
        kept: list[Kinded] = []
        for row_idx, col_idx in _cell_positions(grid, rng):
            cell = grid.rows[row_idx][col_idx].strip()
            if len(cell) < 3:
                continue
            test = {"pdf": pdf, "page": 1, "id": "", "type": "table", "cell": cell, "max_diffs": 0}
            test["ignore_markdown_tables"] = True
            test.update(_relations(grid, row_idx, col_idx))
            if any(name in test for name in RELATIONS) and table_idx < len(html_tables):
                if _passes(test, str(html_tables[table_idx])):
                    kept.append((f"table{table_idx}", test))
            if len(kept) > MAX_TESTS_PER_TABLE:
                break
        tests.extend(kept)
    return tests


def _cell_positions(grid: GridTable, rng: random.Random) -> list[tuple[int, int]]:
    """Up to 3 x 2 non-header cells drawn as the original draws them (the column sample is redrawn per row), or
    every cell when too few rows or columns are not headers; then shuffled."""
    rows, cols = grid.shape
    data_rows = [i for i in range(rows) if i not in grid.header_rows]
    data_cols = [j for j in range(cols) if j not in grid.header_cols]
    if len(data_rows) < 2 or len(data_cols) < 2:
        positions = [(i, j) for i in range(rows) for j in range(cols)]
    else:
        positions = [
            (i, j)
            for i in rng.sample(data_rows, min(3, len(data_rows)))
            for j in rng.sample(data_cols, min(2, len(data_cols)))
        ]
    rng.shuffle(positions)
    return positions


def _relations(grid: GridTable, row_idx: int, col_idx: int) -> dict[str, str]:
    """The cell's one-line neighbours, and its first column and row heading unless it is a heading itself."""
    rows, cols = grid.shape
    found: dict[str, str] = {}
    neighbours = {
        "up": (row_idx > 0, row_idx - 1, col_idx),
        "down": (row_idx < rows - 1, row_idx + 1, col_idx),
        "left": (col_idx > 0, row_idx, col_idx - 1),
        "right": (col_idx < cols - 1, row_idx, col_idx + 1),
    }
    for name, (inside, r, c) in neighbours.items():
        text = grid.rows[r][c].strip() if inside else ""
        if text and "\n" not in text:
            found[name] = text
    if row_idx in grid.header_rows or col_idx in grid.header_cols:
        return found
    for name, headings in (
        ("top_heading", grid.col_headers.get(col_idx)),
        ("left_heading", grid.row_headers.get(row_idx)),
    ):
        if headings:
            heading = headings[0][1]
            if heading and "\n" not in heading:
                found[name] = heading
    return found


def _passes(test: dict, table_html: str) -> bool:
    fields = {key: value for key, value in test.items() if key != "ignore_markdown_tables"}
    passed, _ = TableTest(**{**fields, "id": "candidate"}).run(table_html)
    return passed
