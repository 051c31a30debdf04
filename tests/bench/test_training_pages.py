"""An olmOCR-Bench folder read as GRPO training pages: one item per (pdf, page), bad input listed, never fatal."""

import pytest

from vlm_ocr.bench.training_pages import read_bench_pages, reference_candidates
from vlm_ocr.errors import InputError

FRONT = (
    "---\nprimary_language: en\nis_rotation_valid: True\nrotation_correction: 0\n"
    "is_table: False\nis_diagram: False\n---\n"
)


def test_one_item_per_page_with_all_its_tests_and_its_reference(make_bench):
    root = make_bench(
        {"synth/a_page1.pdf": 1, "multi/doc.pdf": 2},
        {
            "one.jsonl": [
                {"pdf": "synth/a_page1.pdf", "page": 1, "id": "a1", "type": "present", "text": "alpha"},
                {"pdf": "multi/doc.pdf", "page": 2, "id": "d2", "type": "absent", "text": "footer"},
                {"pdf": "multi/doc.pdf", "page": 1, "id": "d1", "type": "baseline"},
            ],
            "two.jsonl": [
                {"pdf": "synth/a_page1.pdf", "page": 1, "id": "a2", "type": "order", "before": "ab", "after": "cd"}
            ],
        },
        {
            "claude_original/synth/a_page1_pg1_repeat1.md": FRONT + "alpha",  # the synthetic pages' name
            "claude_original/multi/doc_page2_pg1_repeat1.md": FRONT + "page two",  # the original's other spelling
            "claude_original/multi/doc_pg1_repeat1.md": FRONT + "page one",  # the benchmark's candidate name
        },
    )
    read = read_bench_pages(root)
    assert [p.key for p in read.pages] == ["multi/doc.pdf::1", "multi/doc.pdf::2", "synth/a_page1.pdf::1"]
    assert [[t.id for t in p.tests] for p in read.pages] == [["d1"], ["d2"], ["a1", "a2"]]
    assert [p.reference.split("---\n")[-1] for p in read.pages] == ["page one", "page two", "alpha"]
    assert read.pages[2].pdf_path == root / "pdfs" / "synth" / "a_page1.pdf" and read.skipped == ()


def test_reference_names_follow_the_original_first():
    assert reference_candidates("s2pdf/pdf_00017_page2.pdf", 1) == ("s2pdf/pdf_00017_page2_pg1_repeat1.md",)
    assert reference_candidates("doc.pdf", 3) == ("doc_page3_pg1_repeat1.md", "doc_pg3_repeat1.md")
    assert reference_candidates("x/a_page02.pdf", 1)[0] == "x/a_page2_pg1_repeat1.md"  # the number, as int() reads it
    assert reference_candidates("x/a_pageX.pdf", 2)[0] == "x/a_page2_pg1_repeat1.md"  # no number: the test's page


def test_bad_input_is_listed_and_the_rest_is_read(make_bench):
    root = make_bench(
        {"good.pdf": 2, "corrupt.pdf": 1},
        {
            "tests.jsonl": [
                {"pdf": "good.pdf", "page": 1, "id": "g1", "type": "present", "text": "fine"},
                {"pdf": "good.pdf", "page": 1, "id": "g1", "type": "present", "text": "again"},
                {"pdf": "good.pdf", "page": 1, "id": "bad", "type": "present", "text": "x", "case": 1},
                {"pdf": "missing.pdf", "page": 1, "id": "m1", "type": "present", "text": "gone"},
                {"pdf": "good.pdf", "page": 7, "id": "p7", "type": "present", "text": "far"},
                {"pdf": "corrupt.pdf", "page": 1, "id": "c1", "type": "present", "text": "broken"},
                {"pdf": "good.pdf", "page": 1, "id": "u1", "type": "nonsense"},
            ]
        },
        {"claude_original/good_page1_pg1_repeat1.md": "no front matter here"},
    )
    (root / "tests.jsonl").write_text((root / "tests.jsonl").read_text() + "{not json\n")
    (root / "pdfs" / "corrupt.pdf").write_bytes(b"%PDF-1.4 garbage")
    read = read_bench_pages(root)
    assert [(p.key, [t.id for t in p.tests], p.reference) for p in read.pages] == [("good.pdf::1", ["g1"], None)]
    lines = [str(s) for s in read.skipped]
    expected = [
        "tests.jsonl:2: duplicate test id 'g1'",
        "tests.jsonl:3: ",  # an unknown key
        "tests.jsonl:7: unknown test type 'nonsense'",
        "tests.jsonl:8: ",  # not JSON
        "pdfs/corrupt.pdf: unreadable PDF, its tests left out",
        "good_page1_pg1_repeat1.md: unreadable reference, page kept without one",
        "pdfs/good.pdf: page 2 has no tests",
        "test 'm1': names pdfs/missing.pdf, which does not exist",
        "test 'p7': page 7 is not a page of pdfs/good.pdf (1 to 2)",
    ]
    assert len(lines) == len(expected), "\n".join(lines)
    for fragment in expected:
        assert any(fragment in line for line in lines), (fragment, lines)


def test_a_folder_without_pages_is_one_clear_error(tmp_path, make_bench):
    with pytest.raises(InputError, match=r"benchmark folder not found: .*nowhere — give an olmOCR-Bench folder"):
        read_bench_pages(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no pdfs/ folder"):
        read_bench_pages(tmp_path / "empty")
    root = make_bench({"a.pdf": 1}, {"t.jsonl": [{"pdf": "b.pdf", "page": 1, "id": "b", "type": "baseline"}]}, {})
    with pytest.raises(InputError, match=r"no page with tests in .*pdfs/a.pdf: page 1 has no tests"):
        read_bench_pages(root)
