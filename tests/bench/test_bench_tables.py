import pytest

from vlm_ocr.bench.loading import build_test
from vlm_ocr.bench.tables import parse_html_tables, parse_markdown_tables

MD_TABLE = """Intro text

| Name | Age | City |
|------|-----|------|
| Ann  | 30  | Oslo |
| Bob  | 25  | Rome |

after"""

HTML_TABLE = """<table>
<thead><tr><th>Region</th><th colspan="2">Sales</th></tr>
<tr><th></th><th>2023</th><th>2024</th></tr></thead>
<tbody>
<tr><td rowspan="2">North</td><td>10</td><td>12</td></tr>
<tr><td>11</td><td>13</td></tr>
</tbody></table>"""


def texts(table, cells):
    return {table.cell_text[c] for c in cells}


def table_test(**fields):
    return build_test({"pdf": "d.pdf", "page": 1, "id": "t", "type": "table", **fields})


# --- Markdown parsing -----------------------------------------------------------------------------------------------


def test_markdown_grid_relations_and_headings():
    (table,) = parse_markdown_tables(MD_TABLE)
    assert table.cell_text[(1, 1)] == "30"
    assert texts(table, table.up[(1, 1)]) == {"Age"}
    assert texts(table, table.down[(1, 1)]) == {"25"}
    assert texts(table, table.left[(1, 1)]) == {"Ann"}
    assert texts(table, table.right[(1, 1)]) == {"Oslo"}
    assert texts(table, table.top_headings((2, 2))) == {"City"}
    assert texts(table, table.left_headings((2, 2))) == {"Bob"}
    # Column 0 is all headings, so a column-0 cell's top headings are every cell above it.
    assert texts(table, table.top_headings((2, 0))) == {"Ann", "Name"}
    assert table.top_headings((0, 1)) == set()  # nothing above the first row


@pytest.mark.parametrize(
    ("content", "rows"),
    [
        ("a | b\nc | d", [["a", "b"], ["c", "d"]]),  # no separator or outer pipes needed
        ("|a|b|\n| |\n|c||d|", [["a", "b"], ["c", "", "d"]]),  # formatting-only rows dropped, inner empties kept
        ("| x \\| y | z |\n| 1 | 2 |", [["x \\", "y", "z"], ["1", "2"]]),  # escaped pipes still split
        ("|a|b|\n|:-:|--|\n|c|d|", [["a", "b"], ["c", "d"]]),
    ],
)
def test_markdown_row_splitting(content, rows):
    (table,) = parse_markdown_tables(content)
    width = max(c for _, c in table.cell_text) + 1
    grid = [[table.cell_text.get((r, c)) for c in range(width)] for r in range(len(rows))]
    assert [[cell for cell in row if cell is not None] for row in grid] == rows


def test_markdown_table_detection_rules():
    assert parse_markdown_tables("just | one line") == []
    assert len(parse_markdown_tables("a|b\nc|d\n\ne|f\ng|h")) == 2  # a blank line ends a table
    assert len(parse_markdown_tables("a|b\nc|d")) == 1  # a table at the very end of the text


# --- HTML parsing -------------------------------------------------------------------------------------------------


def test_html_spans_keys_and_relations():
    (table,) = parse_html_tables(HTML_TABLE)
    assert (0, 1) in table.cell_text and (0, 2) not in table.cell_text  # key = first column of a colspan
    assert texts(table, table.down[(0, 1)]) == {"2023", "2024"}
    assert texts(table, table.right[(2, 0)]) == {"10", "11"}  # rowspan cell sees both rows
    assert texts(table, table.left[(3, 1)]) == {"North"}
    assert texts(table, table.up[(3, 1)]) == {"10"}
    assert table.down[(2, 0)] == set()
    # Both thead rows are headings: matching either is enough.
    assert texts(table, table.top_headings((3, 1))) == {"2023", "Sales"}
    # No heading to the left in the body: the walk falls back to the end cell.
    assert texts(table, table.left_headings((2, 2))) == {"North"}


def test_html_holes_are_skipped():
    html = "<table><tr><td>A</td><td>B</td><td>C</td></tr><tr><td>D</td></tr><tr><td>E</td><td>F</td></tr></table>"
    (table,) = parse_html_tables(html)
    assert texts(table, table.up[(2, 1)]) == {"B"}
    assert table.right[(1, 0)] == set()
    assert texts(table, table.top_headings((2, 1))) == {"B"}  # no th: topmost cell of the column


def test_html_cell_text_br_sup_and_spans():
    html = (
        '<table><tr><td rowspan="0">R</td><td>a<sup>1</sup></td></tr>'
        '<tr><td>x<br>y</td></tr><tr><td colspan="bad">z</td></tr></table>'
    )
    (table,) = parse_html_tables(html)
    assert table.cell_text[(0, 1)] == "a1"
    assert table.cell_text[(1, 1)] == "x\ny"
    assert texts(table, table.left[(2, 1)]) == {"R"}  # rowspan="0" reaches the last row
    assert (2, 1) in table.cell_text  # a non-numeric colspan means 1


def test_html_nested_tables_parsed_separately_and_inside_outer():
    html = "<table><tr><td>outer<table><tr><td>inner</td></tr></table></td></tr></table><table></table>"
    outer, inner = parse_html_tables(html)
    assert inner.cell_text == {(0, 0): "inner"}
    assert outer.cell_text[(0, 0)] == "outerinner"
    assert (1, 0) in outer.cell_text  # the nested <tr> is also a row of the outer table


# --- the table test -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [MD_TABLE, HTML_TABLE.replace("North", "Ann").replace(">10<", ">30<")])
def test_table_test_relations_pass_and_fail(content):
    if "<table>" in content:
        good = dict(cell="30", left="Ann", down="11", top_heading="2023")
        bad = dict(cell="30", left="Bob")
    else:
        good = dict(cell="30", up="Age", down="25", left="Ann", right="Oslo", top_heading="Age", left_heading="Ann")
        bad = dict(cell="30", right="Rome")
    assert table_test(**good).run(content) == (True, "")
    ok, why = table_test(**bad).run(content)
    assert not ok and "relations failed" in why


def test_table_test_full_string_ratio_and_floor():
    content = "| k | v |\n| abcde | 30 kg |"
    assert not table_test(cell="30").run(content)[0]  # full-string ratio, not a substring search
    assert not table_test(cell="abcdefghij", max_diffs=0).run(content)[0]
    # 1 - 8/10 = 0.2 is floored to 0.5; ratio("abcdefghij", "abcde") = 0.667 >= 0.5.
    assert table_test(cell="abcdefghij", max_diffs=8, right="30 kg").run(content)[0]


def test_table_test_no_tables_and_ignore_markdown():
    assert table_test(cell="x").run("no tables here") == (False, "No tables found in the content")
    assert not table_test(cell="30", ignore_markdown_tables=True).run(MD_TABLE)[0]
    mixed = MD_TABLE + "\n\n<table><tr><td>30</td><td>HTML</td></tr></table>"
    assert table_test(cell="30", right="HTML", ignore_markdown_tables=True).run(mixed)[0]


def test_table_test_normalises_cells():
    content = "| **Total** | 1–2 |\n| a | b |"
    assert table_test(cell="Total", right="1-2").run(content)[0]
