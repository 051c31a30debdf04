"""Tables of a page's HTML as the generator sees them: olmocr 0.4.27's grid, and the rectangular check.

The grid is the original's (`olmocr.bench.tests.parse_html_tables` of 0.4.27) because it decides which cells and
neighbours the generated tests name; the tests are then checked by the scorer's own tables (vlm_ocr.bench.tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bs4 import BeautifulSoup

from vlm_ocr.bench.tables import CellSpec, is_rectangular


@dataclass
class GridTable:
    """Cell texts row by row (padded to the widest row), the header rows and columns, and the headings per cell."""

    rows: list[list[str]]
    header_rows: set[int] = field(default_factory=set)
    header_cols: set[int] = field(default_factory=set)
    col_headers: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    row_headers: dict[int, list[tuple[int, str]]] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.rows[0])


def grid_tables(html: str) -> list[GridTable]:
    """Every <table> with at least one row, laid out as the original lays it out (quirks included: a colspan
    advances the column without filling the row, as its text list is aligned by position)."""
    tables = []
    for table in BeautifulSoup(html, "html.parser").find_all("table"):
        grid = _grid(table)
        if grid is not None:
            tables.append(grid)
    return tables


def _grid(table) -> GridTable | None:
    trs = table.find_all(["tr"])
    grid = GridTable(rows=[])
    thead = table.find("thead")
    if thead:
        for tr in thead.find_all("tr"):
            grid.header_rows.add(trs.index(tr))
    filled: dict[tuple[int, int], str] = {}
    col_span_info: dict[str, set[int]] = {}
    row_span_info: dict[str, set[int]] = {}
    for row_idx, tr in enumerate(trs):
        row: list[str] = []
        col_idx = 0
        if tr.find("th"):
            grid.header_rows.add(row_idx)
        for cell in tr.find_all(["th", "td"]):
            while (row_idx, col_idx) in filled:
                row.append(filled[(row_idx, col_idx)])
                col_idx += 1
            for br in cell.find_all("br"):
                br.replace_with("\n")
            text = cell.get_text().strip()
            rowspan, colspan = int(cell.get("rowspan", 1)), int(cell.get("colspan", 1))
            row.append(text)
            for i in range(rowspan):
                for j in range(colspan):
                    if i or j:
                        filled[(row_idx + i, col_idx + j)] = text if j == 0 else ""
            if cell.name == "th":
                _record_heading(grid, row_idx, col_idx, rowspan, colspan, text, len(trs), col_span_info, row_span_info)
            if cell.name == "td" and rowspan > 1 and col_idx in grid.header_cols:
                for i in range(1, rowspan):
                    if row_idx + i < len(trs):
                        grid.row_headers.setdefault(row_idx + i, []).append((col_idx, text))
            col_idx += colspan
        grid.rows.append(row)
    _spread_headings(grid, col_span_info, row_span_info)
    if not grid.rows:
        return None
    width = max(len(row) for row in grid.rows)
    grid.rows = [row + [""] * (width - len(row)) for row in grid.rows]
    return grid


def _record_heading(grid, row_idx, col_idx, rowspan, colspan, text, n_rows, col_span_info, row_span_info) -> None:
    for j in range(colspan):  # one add at a time, as the original: the sets iterate in the same order
        grid.header_cols.add(col_idx + j)
    for i in range(1, rowspan):
        if row_idx + i < n_rows:
            grid.header_rows.add(row_idx + i)
    for col in range(col_idx, col_idx + colspan):
        grid.col_headers.setdefault(col, []).append((row_idx, text))
        if text and colspan > 1:
            col_span_info.setdefault(text, set()).add(col)
    if text and rowspan > 1:
        for i in range(rowspan):
            row_span_info.setdefault(text, set()).add(row_idx + i)


def _spread_headings(grid: GridTable, col_span_info: dict[str, set[int]], row_span_info: dict[str, set[int]]) -> None:
    """The original's second pass: headings spanning columns or rows reach the cells they cover (and, for
    columns, every column to their right), and every cell of a header column heads its row."""
    rows = grid.rows
    for text, columns in col_span_info.items():
        for col in columns:
            for row_idx in range(len(rows)):
                if row_idx in grid.header_rows:
                    continue
                for j in range(col, len(rows[row_idx])):
                    headings = grid.col_headers.setdefault(j, [])
                    if not any(h[1] == text for h in headings):
                        header_row = min(r for r, _ in grid.col_headers.get(col, [(0, "")]))
                        headings.append((header_row, text))
    for text, span_rows in row_span_info.items():
        for row in span_rows:
            if row < len(rows):
                header_col = min(grid.header_cols) if grid.header_cols else 0
                headings = grid.row_headers.setdefault(row, [])
                if not any(h[1] == text for h in headings):
                    headings.append((header_col, text))
    for col_idx in grid.header_cols:
        for row_idx, row in enumerate(rows):
            if col_idx < len(row) and row[col_idx].strip():
                headings = grid.row_headers.setdefault(row_idx, [])
                if not any(h[1] == row[col_idx] for h in headings):
                    headings.append((col_idx, row[col_idx]))


def table_shape_problem(html: str) -> str | None:
    """Why a table of the page cannot carry table tests (a span that is not a number, rows of unequal width after
    rowspan/colspan, or a hole), or None when every table is a rectangle."""
    for number, table in enumerate(BeautifulSoup(html, "html.parser").find_all("table"), start=1):
        rows = []
        for tr in table.find_all("tr"):
            specs = []
            for cell in tr.find_all(["th", "td"], recursive=False):
                spans = [cell.get(name, "1") for name in ("rowspan", "colspan")]
                if not all(str(value).strip().isdigit() and int(value) > 0 for value in spans):
                    return f"table {number} has a rowspan/colspan that is not a positive number"
                specs.append(CellSpec("", rowspan=int(spans[0]), colspan=int(spans[1])))
            rows.append(specs)
        if rows and not is_rectangular(rows):
            return f"table {number} is not rectangular"
    return None
