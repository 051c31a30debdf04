import shutil

import pytest

from vlm_ocr.bench import format_report, score_bench
from vlm_ocr.bench.loading import BenchDataError
from vlm_ocr.katex.equation import RenderedEquation, RenderError, SpanBox


def present(id_, text, pdf="doc.pdf", page=1, **extra):
    return {"pdf": pdf, "page": page, "id": id_, "type": "present", "text": text, **extra}


def by_id(report):
    return {o.id: o for o in report.outcomes}


def test_majority_vote_over_repeats(make_bench):
    bench = make_bench(
        pdfs={"doc.pdf": 1},
        tests={"t.jsonl": [present("hello", "hello"), present("world", "world"), present("bye", "bye")]},
        outputs={
            "cand/doc_pg1_repeat1.md": "hello world bye",
            "cand/doc_pg1_repeat2.md": "hello world",
            "cand/doc_pg1_repeat3.md": "hello",
        },
    )
    report = score_bench(bench, "cand")
    outcomes = by_id(report)
    assert (outcomes["hello"].status, outcomes["hello"].passes, outcomes["hello"].repeats) == ("pass", 3, 3)
    assert (outcomes["world"].status, outcomes["world"].passes) == ("pass", 2)  # 2/3 is a majority
    assert (outcomes["bye"].status, outcomes["bye"].passes) == ("fail", 1)
    group = {g.name: g for g in report.groups}["t.jsonl"]
    assert (group.passed, group.total) == (2, 3)
    present_type = {t.type: t for t in report.types}["present"]
    assert present_type.mean_frac == pytest.approx((3 + 2 + 1) / 9)  # per-type breakdown uses fractions
    assert report.overall == pytest.approx((2 / 3 + 1) / 2)  # t.jsonl and the automatic baseline group


def test_two_repeats_need_both(make_bench):
    bench = make_bench(
        pdfs={"doc.pdf": 1},
        tests={"t.jsonl": [present("a", "alpha")]},
        outputs={"cand/doc_pg1_repeat1.md": "alpha", "cand/doc_pg1_repeat2.md": "beta"},
    )
    assert by_id(score_bench(bench, "cand"))["a"].status == "fail"


def test_automatic_baseline_and_group_average(make_bench):
    bench = make_bench(
        pdfs={"a.pdf": 1, "b.pdf": 1},
        tests={
            "x.jsonl": [present("p1", "one", pdf="a.pdf"), present("p2", "two", pdf="b.pdf")],
            "blanks.jsonl": [{"pdf": "b.pdf", "page": 1, "id": "blank", "type": "baseline", "max_length": 0}],
        },
        outputs={"cand/a_pg1_repeat1.md": "one", "cand/b_pg1_repeat1.md": ""},
    )
    report = score_bench(bench, "cand")
    outcomes = by_id(report)
    assert set(outcomes) == {"p1", "p2", "blank", "a.pdf_baseline"}  # b.pdf already has a baseline test
    assert outcomes["a.pdf_baseline"].group == "baseline" and outcomes["a.pdf_baseline"].page == 1
    groups = {g.name: (g.passed, g.total) for g in report.groups}
    assert groups == {"baseline": (1, 1), "blanks.jsonl": (1, 1), "x.jsonl": (1, 2)}
    assert report.overall == pytest.approx((1 + 1 + 0.5) / 3)  # unweighted mean over files


def test_skip_baseline_drops_explicit_and_automatic(make_bench):
    bench = make_bench(
        pdfs={"a.pdf": 1, "b.pdf": 1},
        tests={
            "x.jsonl": [present("p1", "one", pdf="a.pdf"), present("p2", "two", pdf="b.pdf")],
            "blanks.jsonl": [{"pdf": "b.pdf", "page": 1, "id": "blank", "type": "baseline", "max_length": 0}],
        },
        outputs={"cand/a_pg1_repeat1.md": "one", "cand/b_pg1_repeat1.md": ""},
    )
    report = score_bench(bench, "cand", skip_baseline=True)
    assert [g.name for g in report.groups] == ["x.jsonl"]
    assert report.overall == pytest.approx(0.5)


def test_page_coverage_required_unless_forced(make_bench):
    bench = make_bench(
        pdfs={"doc.pdf": 2}, tests={"t.jsonl": [present("a", "alpha")]}, outputs={"cand/doc_pg1_repeat1.md": "alpha"}
    )
    with pytest.raises(BenchDataError, match="No dataset entry found for pdf doc.pdf page 2"):
        score_bench(bench, "cand")
    assert score_bench(bench, "cand", force=True).overall == 1.0


def test_missing_candidate_files_fail_the_candidate(make_bench):
    bench = make_bench(
        pdfs={"a.pdf": 1, "b.pdf": 1},
        tests={"t.jsonl": [present("a", "alpha", pdf="a.pdf"), present("b", "beta", pdf="b.pdf")]},
        outputs={"cand/a_pg1_repeat1.md": "alpha"},
    )
    report = score_bench(bench, "cand")
    assert report.failed and report.overall is None and report.ci == (0.0, 0.0)
    assert report.outcomes == []  # upstream runs no test for such a candidate
    assert "b_pg*_repeat*.md" in report.errors[0]
    assert "FAILED (errors)" in format_report(report)
    forced = score_bench(bench, "cand", force=True)
    assert forced.failed and by_id(forced)["b"].explanation == "Missing MD files"
    assert by_id(forced)["a"].status == "pass"


def test_page_filter_quirk_for_stems_containing_pg(make_bench):
    bench = make_bench(
        pdfs={"x_pg2.pdf": 2},
        tests={"t.jsonl": [present("p1", "alpha", pdf="x_pg2.pdf"), present("p2", "beta", pdf="x_pg2.pdf", page=2)]},
        outputs={"cand/x_pg2_pg1_repeat1.md": "alpha", "cand/x_pg2_pg2_repeat1.md": "beta"},
    )
    outcomes = by_id(score_bench(bench, "cand"))
    assert outcomes["p1"].repeats == 1
    # Both basenames contain "_pg2_", so the page-2 test sees two repeats and only one passes.
    assert (outcomes["p2"].repeats, outcomes["p2"].passes, outcomes["p2"].status) == (2, 1, "fail")


def test_subfolders_and_file_name_pattern(make_bench):
    bench = make_bench(
        pdfs={"sub/doc.pdf": 1},
        tests={"t.jsonl": [present("a", "alpha", pdf="sub/doc.pdf")]},
        outputs={
            "cand/sub/doc_pg1_repeat1.md": "alpha",
            "cand/doc_pg1_repeat1.md": "wrong folder",
            "cand/sub/doc_pg1_repeat1.md.bak": "ignored",
            "cand/sub/.hidden/doc_pg1_repeat9.md": "hidden",
        },
    )
    assert by_id(score_bench(bench, "cand"))["a"].repeats == 1


def test_unreadable_file_counts_as_failed_repeat(make_bench):
    bench = make_bench(
        pdfs={"doc.pdf": 1},
        tests={"t.jsonl": [present("a", "alpha")]},
        outputs={"cand/doc_pg1_repeat1.md": "alpha", "cand/doc_pg1_repeat2.md": "alpha"},
    )
    (bench / "cand/doc_pg1_repeat2.md").write_bytes(b"\xff\xfe bad utf-8")
    report = score_bench(bench, "cand")
    assert (by_id(report)["a"].passes, by_id(report)["a"].repeats) == (1, 2)
    assert report.failed and any("Error reading" in e for e in report.errors)


def test_math_not_scored_without_renderer(make_bench):
    bench = make_bench(
        pdfs={"doc.pdf": 1},
        tests={
            "math.jsonl": [{"pdf": "doc.pdf", "page": 1, "id": "m", "type": "math", "math": "x^2"}],
            "text.jsonl": [present("t", "alpha")],
        },
        outputs={"cand/doc_pg1_repeat1.md": "alpha $x^2$"},
    )
    report = score_bench(bench, "cand", chromium=None)
    assert by_id(report)["m"].status == "not_scored"
    assert report.not_scored == 1 and report.num_scored == 2 and not report.failed
    groups = {g.name: (g.passed, g.total, g.not_scored) for g in report.groups}
    assert groups["math.jsonl"] == (0, 0, 1)
    assert report.overall == 1.0  # the all-unscored group is left out of the average, not counted as 0
    text = format_report(report)
    assert "NOT SCORED: 1 tests (math rendering disabled)" in text
    assert "math    : n/a average pass rate over 0 tests, 1 not scored" in text
    missing = score_bench(bench, "cand", chromium="no-such-chromium-binary")
    assert missing.not_scored == 1 and "not found" in missing.math_renderer


def _glyph_render(text):
    return RenderedEquation(f"<math><semantics><mi>{text}</mi></semantics></math>", (SpanBox(text, 0, 0, 10, 10),))


class CountingRenderer:
    def __init__(self, fail=False):
        self.fail = fail
        self.batches = []

    def render_many(self, latex):
        if self.fail:
            raise RenderError("browser crashed")
        self.batches.append(list(latex))
        return [_glyph_render(x.strip("{}")) for x in latex]


def test_math_scored_with_injected_renderer(make_bench):
    bench = make_bench(
        pdfs={"doc.pdf": 1},
        tests={
            "math.jsonl": [
                {"pdf": "doc.pdf", "page": 1, "id": "exact", "type": "math", "math": "y"},
                {"pdf": "doc.pdf", "page": 1, "id": "render", "type": "math", "math": "{z}"},
                {"pdf": "doc.pdf", "page": 1, "id": "absent", "type": "math", "math": "w"},
            ]
        },
        outputs={"cand/doc_pg1_repeat1.md": r"$y$ and \(z\)"},
    )
    renderer = CountingRenderer()
    report = score_bench(bench, "cand", renderer=renderer)
    assert {o.id: o.status for o in report.outcomes if o.type == "math"} == {
        "exact": "pass",
        "render": "pass",
        "absent": "fail",
    }
    assert renderer.batches[0] == ["{z}", "z", "y", "w"]  # one up-front batch of everything needed
    assert report.math_renderer == "custom renderer"


def test_render_failure_fails_the_candidate(make_bench):
    bench = make_bench(
        pdfs={"doc.pdf": 1},
        tests={"math.jsonl": [{"pdf": "doc.pdf", "page": 1, "id": "m", "type": "math", "math": "z"}]},
        outputs={"cand/doc_pg1_repeat1.md": r"\(y\)"},
    )
    report = score_bench(bench, "cand", renderer=CountingRenderer(fail=True))
    assert report.failed and report.overall is None
    assert by_id(report)["m"].status == "fail" and "browser crashed" in report.errors[0]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")
def test_math_scored_with_chromium(make_bench):
    tests = [
        {"pdf": "doc.pdf", "page": 1, "id": "same", "type": "math", "math": r"\frac{a}{b}"},
        {"pdf": "doc.pdf", "page": 1, "id": "inline", "type": "math", "math": "a/b"},
        {"pdf": "doc.pdf", "page": 1, "id": "sin", "type": "math", "math": r"\sin(\theta)"},
    ]
    bench = make_bench(
        pdfs={"doc.pdf": 1}, tests={"m.jsonl": tests}, outputs={"cand/doc_pg1_repeat1.md": r"\[\dfrac{a}{b}\]"}
    )
    report = score_bench(bench, "cand")
    assert {o.id: o.status for o in report.outcomes if o.type == "math"} == {
        "same": "pass",
        "inline": "fail",
        "sin": "fail",
    }
    assert report.not_scored == 0 and "KaTeX 0.16.21" in report.math_renderer


def test_bad_test_files_are_reported_with_location(make_bench):
    bench = make_bench(
        pdfs={"doc.pdf": 1},
        tests={"t.jsonl": [present("a", "x"), present("a", "y")]},
        outputs={"cand/doc_pg1_repeat1.md": "x"},
    )
    with pytest.raises(BenchDataError, match=r"t.jsonl:2: duplicate test id 'a'"):
        score_bench(bench, "cand")
    (bench / "t.jsonl").write_text(
        '\n{"pdf": "doc.pdf", "page": 1, "id": "a", "type": "order", "before": "a b", '
        '"after": "c d", "case_sensitive": false}\n'
    )
    with pytest.raises(BenchDataError, match=r"t.jsonl:2: .*case_sensitive"):
        score_bench(bench, "cand")


def test_single_jsonl_file_as_bench(make_bench):
    bench = make_bench(
        pdfs={"a.pdf": 1, "b.pdf": 1},
        tests={"one.jsonl": [present("a", "alpha", pdf="a.pdf")], "two.jsonl": [present("b", "beta", pdf="b.pdf")]},
        outputs={"cand/a_pg1_repeat1.md": "alpha"},  # no b output: fine, b.pdf is not referenced by one.jsonl
    )
    report = score_bench(bench / "one.jsonl", "cand")
    assert set(by_id(report)) == {"a", "a.pdf_baseline"} and report.overall == 1.0


def test_missing_paths_are_named(tmp_path, make_bench):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        score_bench(tmp_path / "nope", "cand")
    bench = make_bench(pdfs={"doc.pdf": 1}, tests={"t.jsonl": [present("a", "x")]}, outputs={})
    with pytest.raises(FileNotFoundError, match="candidate folder not found: .*ghost"):
        score_bench(bench, "ghost")
    with pytest.raises(FileNotFoundError, match="candidate folder not found"):
        score_bench(bench, "pdfs")


# --- the shared olmOCR-Bench slice ----------------------------------------------------------------------------------


def test_shared_fixture_slice(shared_bench):
    report = score_bench(shared_bench, "olmocr_pipeline", seed=0)
    groups = {g.name: (g.passed, g.total) for g in report.groups}
    assert groups == {"baseline": (6, 7), "headers_footers.jsonl": (18, 19)}
    assert report.overall == pytest.approx((6 / 7 + 18 / 19) / 2)  # 90.2%
    failed = {o.id for o in report.outcomes if o.status == "fail"}
    assert failed == {
        "ff3d6e051903fe5ca9bc172ece14964c5632_01a",  # the Persian e-mail header is still in the output
        "headers_footers/ffaac214730d2b8c2ec842e3618ccb9c4259_pg1.pdf_baseline",  # empty output file
    }
    assert {t.type: t.count for t in report.types} == {"absent": 19, "baseline": 7}
    assert report.not_scored == 0 and not report.failed
    low, high = report.ci
    assert low < report.overall <= high <= 1.0
    assert score_bench(shared_bench, "olmocr_pipeline", seed=0).ci == report.ci


def test_unreadable_pdf_is_a_data_error(make_bench):
    bench = make_bench(
        pdfs={"doc.pdf": 1}, tests={"t.jsonl": [present("a", "x")]}, outputs={"cand/doc_pg1_repeat1.md": "x"}
    )
    (bench / "pdfs" / "doc.pdf").write_bytes(b"not a pdf")
    with pytest.raises(BenchDataError, match="cannot read page count of .*doc.pdf"):
        score_bench(bench, "cand")
