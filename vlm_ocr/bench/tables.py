"""Markdown and HTML table parsing into a cell grid with neighbour and heading relations (spec §3.3)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from bs4 import BeautifulSoup

Cell = tuple[int, int]  # (row index, first grid column the cell occupies)
Relation = dict[Cell, set[Cell]]


@dataclass(frozen=True)
class CellSpec:
    """One source cell before grid placement."""

    text: str
    rowspan: int = 1
    colspan: int = 1
    is_heading: bool = False


@dataclass(frozen=True)
class TableData:
    """A parsed table: text per cell key, heading cells, and the four immediate-neighbour relations."""

    cell_text: dict[Cell, str]
    heading_cells: frozenset[Cell]
    up: Relation
    down: Relation
    left: Relation
    right: Relation

    def top_headings(self, cell: Cell) -> set[Cell]:
        return self._walk_headings(cell, self.up)

    def left_headings(self, cell: Cell) -> set[Cell]:
        return self._walk_headings(cell, self.left)

    def _walk_headings(self, start: Cell, relation: Relation) -> set[Cell]:
        """Every heading reached transitively (excluding start); else the end cells reached."""
        headings: set[Cell] = set()
        ends: set[Cell] = set()
        visited: set[Cell] = set()
        to_visit = {start}
        while to_visit:
            cur = to_visit.pop()
            visited.add(cur)
            if cur in self.heading_cells:
                headings.add(cur)
            nxt = relation.get(cur, set())
            if nxt:
                to_visit |= nxt - visited
            else:
                ends.add(cur)
        headings.discard(start)
        ends.discard(start)
        return headings or ends


def build_table(rows: list[list[CellSpec]]) -> TableData | None:
    """Lay out row specs on a grid the way HTML does (rowspan/colspan) and compute neighbours."""
    occupancy, spans = _place_cells(rows)
    if not spans:
        return None
    occupied_cols = [c for row in occupancy for c, key in enumerate(row) if key is not None]
    width = max(occupied_cols) + 1
    for row in occupancy:
        row.extend([None] * (width - len(row)))
        del row[width:]
    up, down, left, right = _neighbours(occupancy, spans)
    return TableData(
        cell_text={key: spec.text for key, (spec, _, _) in spans.items()},
        heading_cells=frozenset(key for key, (spec, _, _) in spans.items() if spec.is_heading),
        up=up,
        down=down,
        left=left,
        right=right,
    )


def is_rectangular(rows: list[list[CellSpec]]) -> bool:
    """True when the cells, placed as HTML places them (rowspan/colspan), cover a full rectangle: every row as
    wide as the widest, no hole, no rowspan reaching past the last row."""
    occupancy, spans = _place_cells(rows)
    width = max((len(row) for row in occupancy), default=0)
    return bool(spans) and len(occupancy) == len(rows) and all(len(r) == width and None not in r for r in occupancy)


def _place_cells(rows: list[list[CellSpec]]) -> tuple[list[list[Cell | None]], dict[Cell, tuple[CellSpec, int, int]]]:
    """Return the occupancy grid and, per cell key, (spec, rowspan, colspan)."""
    occupancy: list[list[Cell | None]] = []
    spans: dict[Cell, tuple[CellSpec, int, int]] = {}
    active: list[tuple[Cell, int] | None] = []  # per column: (cell, rows still to cover)
    for r, specs in enumerate(rows):
        row: list[Cell | None] = []
        col = 0
        specs_left = iter(specs)
        pending = len(specs)
        while pending or col < len(active):
            if col < len(active) and active[col] is not None:
                key, remaining = active[col]
                row.append(key)
                active[col] = (key, remaining - 1) if remaining > 1 else None
                col += 1
                continue
            if not pending:
                row.append(None)  # a hole: this row ran out of cells before the widest row so far
                col += 1
                continue
            spec = next(specs_left)
            pending -= 1
            rowspan, colspan = max(1, spec.rowspan), max(1, spec.colspan)
            key = (r, col)
            spans[key] = (spec, rowspan, colspan)
            active.extend([None] * (col + colspan - len(active)))
            for c in range(col, col + colspan):
                row.append(key)
                # Overwrites any rowspan from above in a column this colspan covers, as upstream does.
                active[c] = (key, rowspan - 1) if rowspan > 1 else None
            col += colspan
        occupancy.append(row)
    while any(entry is not None for entry in active):
        row = []
        for c, entry in enumerate(active):
            if entry is None:
                row.append(None)
                continue
            key, remaining = entry
            row.append(key)
            active[c] = (key, remaining - 1) if remaining > 1 else None
        occupancy.append(row)
    return occupancy, spans


def _first_other(occupancy: list[list[Cell | None]], positions: Iterable[tuple[int, int]], me: Cell) -> Cell | None:
    """First occupied grid position along a scan that is not `me` (holes are jumped over)."""
    for r, c in positions:
        key = occupancy[r][c]
        if key is not None and key != me:
            return key
    return None


def _neighbours(
    occupancy: list[list[Cell | None]], spans: dict[Cell, tuple[CellSpec, int, int]]
) -> tuple[Relation, Relation, Relation, Relation]:
    """Immediate neighbours (up, down, left, right), scanned from every row/column a cell spans."""
    height, width = len(occupancy), len(occupancy[0])
    up: Relation = {key: set() for key in spans}
    down: Relation = {key: set() for key in spans}
    left: Relation = {key: set() for key in spans}
    right: Relation = {key: set() for key in spans}
    for key, (_, rowspan, colspan) in spans.items():
        r0, c0 = key
        # Clipped to the grid: a rowspan cut short by an overlapping colspan would otherwise index past the end.
        rows = range(r0, min(r0 + rowspan, height))
        cols = range(c0, min(c0 + colspan, width))
        found: list[tuple[Relation, Cell | None]] = []
        for r in rows:
            found.append((right, _first_other(occupancy, ((r, c) for c in range(cols.stop, width)), key)))
            found.append((left, _first_other(occupancy, ((r, c) for c in range(c0 - 1, -1, -1)), key)))
        for c in cols:
            found.append((down, _first_other(occupancy, ((r, c) for r in range(rows.stop, height)), key)))
            found.append((up, _first_other(occupancy, ((r, c) for r in range(r0 - 1, -1, -1)), key)))
        for relation, neighbour in found:
            if neighbour is not None:
                relation[key].add(neighbour)
    return up, down, left, right


def parse_markdown_tables(content: str) -> list[TableData]:
    """Tables made of runs of >= 2 consecutive lines containing '|' (no separator row required)."""
    tables = []
    run: list[str] = []
    for line in [*content.strip().split("\n"), ""]:  # the sentinel closes a run at the end
        if "|" in line:
            run.append(line)
            continue
        if len(run) >= 2:
            rows = _markdown_rows(run)
            specs = [
                [CellSpec(text, is_heading=(r == 0 or c == 0)) for c, text in enumerate(cells)]
                for r, cells in enumerate(rows)
            ]
            table = build_table(specs) if specs else None
            if table is not None:
                tables.append(table)
        run = []
    return tables


def _markdown_rows(lines: list[str]) -> list[list[str]]:
    separator = next(
        (i for i, line in enumerate(lines) if (bare := line.replace("|", "").strip()) and set(bare) <= set("- :")),
        None,
    )
    rows = []
    for i, line in enumerate(lines):
        if i == separator or (line.strip() and set(line) <= set("- :|")):
            continue
        cells = [cell.strip() for cell in line.split("|")]
        if cells and cells[0] == "":
            cells = cells[1:]
        if cells and cells[-1] == "":
            cells = cells[:-1]
        if cells:
            rows.append(cells)
    return rows


def parse_html_tables(content: str) -> list[TableData]:
    """Every <table> (nested ones too, separately); rows are all <tr> descendants, cells their direct th/td."""
    soup = BeautifulSoup(content, "html.parser")
    tables = []
    for table in soup.find_all("table"):
        trs = table.find_all("tr")
        if not trs:
            continue
        rows = []
        for r, tr in enumerate(trs):
            in_thead = tr.find_parent("thead") is not None
            cells = tr.find_all(["th", "td"], recursive=False)
            rows.append([_html_cell(td, rows_left=len(trs) - r, in_thead=in_thead) for td in cells])
        built = build_table(rows)
        if built is not None:
            tables.append(built)
    return tables


def _html_cell(td, rows_left: int, in_thead: bool) -> CellSpec:
    for br in td.find_all("br"):
        br.replace_with("\n")
    raw_rowspan = td.get("rowspan")
    rowspan = _span_value(raw_rowspan)
    if isinstance(raw_rowspan, str) and raw_rowspan.strip() == "0":
        rowspan = max(1, rows_left)  # rowspan="0" means "to the last row of the table"
    return CellSpec(
        text=td.get_text(separator="").strip(),
        rowspan=rowspan,
        colspan=_span_value(td.get("colspan")),
        is_heading=td.name == "th" or in_thead,
    )


def _span_value(raw: str | None) -> int:
    """Missing, empty, non-numeric, zero or negative spans mean 1."""
    try:
        value = int(raw) if raw not in (None, "") else 1
    except (TypeError, ValueError):
        return 1
    return value if value > 0 else 1


@functools.lru_cache(maxsize=32)
def find_tables(content: str, include_markdown: bool = True) -> tuple[TableData, ...]:
    """Markdown tables (unless excluded) then HTML tables; cached because every table test re-parses its page."""
    markdown = parse_markdown_tables(content) if include_markdown else []
    return (*markdown, *parse_html_tables(content))
