"""clean_olmocrmix against the local OpenAI server; prepare_workspace on local and S3 workspaces."""

import json
import os

import pypdfium2 as pdfium
import pytest
from pdf_fixtures import SECRET_KEY, letter, make_pdf

from data_tools import clean_olmocrmix, prepare_workspace
from vlm_ocr.errors import InputError
from vlm_ocr.pages.front_matter import read_page_markdown
from vlm_ocr.pages.pairs import scan_pairs
from vlm_ocr.prep.runner import RunArgs


def test_clean_writes_front_matter_links_and_sidecar(pair_tree, tmp_path, openai_stub):
    (pair_tree / "docs" / "alpha.md").write_text("---\n---\nNORSK tekst")
    (pair_tree / "gamma.md").write_text("BLANK-PAGE")
    (pair_tree / "refuse.md").write_text("PLEASE-REFUSE")
    (pair_tree / "refuse.pdf").write_bytes(make_pdf([letter()]))
    (pair_tree / "two.md").write_text("x")
    (pair_tree / "two.pdf").write_bytes(make_pdf([letter(), letter()]))
    (pair_tree / "lonely.md").write_text("no pdf")
    out = tmp_path / "clean"
    assert clean_olmocrmix.main(pair_tree, out, longest_side=300, run=RunArgs(workers=3)) == 1
    alpha = (out / "docs" / "alpha.md").read_text()
    assert alpha.startswith("---\nprimary_language: 'no'\n")  # Norwegian stays a language, quoted
    assert read_page_markdown(out / "docs" / "alpha.md").primary_language == "no"
    blank = read_page_markdown(out / "gamma.md")  # a literal "null" text is a blank page
    assert blank.natural_text is None and blank.primary_language is None
    assert (out / "gamma.md").read_text().endswith("---")
    assert os.path.islink(out / "docs" / "alpha.pdf") and os.path.islink(out / "docs" / "alpha.md.orig")
    assert (out / "docs" / "alpha.md.orig").read_text() == "---\n---\nNORSK tekst"
    sidecar = json.loads((out / "docs" / "alpha.json").read_text())
    assert sidecar["model"] == "gpt-4o-2024-08-06" and sidecar["corrections_made"] == ["fixed spacing"]
    assert [p.markdown_path.name for p in scan_pairs(out)] == ["alpha.md", "beta-3.md", "gamma.md"]
    meta = json.loads((out / "_meta.json").read_text())
    assert meta["counts"]["failed"] == 1
    assert meta["counts"]["dropped_reasons"] == {"multi-page PDF": 1, "no PDF beside the Markdown": 1}
    assert {"item": "lonely.md", "reason": "no PDF beside the Markdown"} in [
        json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()
    ]
    assert "refused" in (out / "errors.jsonl").read_text()
    assert SECRET_KEY not in (out / "_meta.json").read_text()
    calls = openai_stub.chat_calls
    clean_olmocrmix.main(pair_tree, out, longest_side=300)  # resume: only the failed pair is retried
    assert openai_stub.chat_calls == calls + 1


def test_clean_selection_is_seeded_and_reproducible(pair_tree, tmp_path, openai_stub):
    for run in ("a", "b"):
        clean_olmocrmix.main(pair_tree, tmp_path / run, max_documents=2, seed=7, longest_side=200)
    picked = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*.md"))  # noqa: E731
    assert picked(tmp_path / "a") == picked(tmp_path / "b") and len(picked(tmp_path / "a")) == 2


def _workspace(tmp_path, source: str, docs: list[dict]):
    ws = tmp_path / "ws"
    (ws / "results").mkdir(parents=True)
    lines = [json.dumps(d) for d in docs] + ["{broken json"]
    (ws / "results" / "output_1.jsonl").write_text("\n".join(lines) + "\n")
    return ws


def _doc(doc_id, source, texts, attrs=None, fallback=0):
    spans, text, pos = [], "", 0
    for page, t in texts:
        spans.append([pos, pos + len(t), page])
        text += t
        pos += len(t)
    return {
        "id": doc_id,
        "text": text,
        "metadata": {"Source-File": source, "total-fallback-pages": fallback},
        "attributes": {"pdf_page_numbers": spans, **(attrs or {})},
    }


@pytest.fixture
def source_pdf(tmp_path):
    path = tmp_path / "src.pdf"
    path.write_bytes(make_pdf([letter("one"), letter("two", rotate=90), letter("three")]))
    return path


def test_workspace_pages_to_pairs(tmp_path, source_pdf):
    docs = [
        _doc(
            "abcdef123",
            str(source_pdf),
            [(1, "Page one\n"), (2, "   \n"), (7, "out of range")],
            {
                "primary_language": ["en", None],
                "is_rotation_valid": [True, False],
                "rotation_correction": [0, 90],
                "is_table": [False],
                "is_diagram": [False, False],
            },
        ),
        _doc("abcdef123", str(source_pdf), [(1, "duplicate id")]),
        _doc("ffff0000", str(source_pdf), [(1, "fallback")], fallback=1),
        _doc("xy", str(source_pdf), [(3, "Short id\n")]),
        _doc("tarb0001", "archive.tar.gz::inner.pdf", [(1, "x")]),
    ]
    ws = _workspace(tmp_path, str(source_pdf), docs)
    out = tmp_path / "out"
    assert prepare_workspace.main(str(ws), out, run=RunArgs(workers=2)) == 1
    assert (out / "abcd" / "abcdef123_page1.md").read_text() == (
        "---\nprimary_language: en\nis_rotation_valid: True\nrotation_correction: 0\nis_table: False\n"
        "is_diagram: False\n---\nPage one"
    )
    page2 = read_page_markdown(out / "abcd" / "abcdef123_page2.md")
    assert (page2.primary_language, page2.is_rotation_valid, page2.rotation_correction, page2.natural_text) == (
        None,
        False,
        90,
        None,
    )
    assert page2.is_table is False  # missing from a short attribute list -> default
    single = pdfium.PdfDocument(out / "abcd" / "abcdef123_page2.pdf")
    assert len(single) == 1 and single[0].get_rotation() == 90
    single.close()
    assert (out / "misc" / "xy_page3.md").exists()
    assert not (out / "abcd" / "abcdef123_page7.md").exists() and not (out / "ffff").exists()
    meta = json.loads((out / "_meta.json").read_text())["counts"]
    assert meta["dropped_reasons"] == {"duplicate document id (identical text)": 1, "document has fallback pages": 1}
    errors = (out / "errors.jsonl").read_text()
    assert "out of range" in errors and "unsupported source" in errors and "output_1.jsonl:6" in errors
    assert prepare_workspace.main(str(ws), out, max_examples=1) == 1  # first document only: page 7 fails again
    assert json.loads((out / "_meta.json").read_text())["counts"] | {"dropped_reasons": {}} == {
        "processed": 0,
        "skipped": 2,
        "dropped": 0,
        "failed": 1,
        "dropped_reasons": {},
    }
    with pytest.raises(InputError, match="no results"):
        prepare_workspace.main(str(tmp_path / "nope"), out)


def test_workspace_on_s3(tmp_path, source_pdf, s3_bucket, s3_client):
    s3_client.put_object(Bucket=s3_bucket, Key="pdfs/src.pdf", Body=source_pdf.read_bytes())
    doc = _doc("s3doc0001", f"s3://{s3_bucket}/pdfs/src.pdf", [(2, "From S3\n"), (3, "Third\n")])
    s3_client.put_object(Bucket=s3_bucket, Key="ws/results/output_a.jsonl", Body=(json.dumps(doc) + "\n").encode())
    out = tmp_path / "out"
    assert prepare_workspace.main(f"s3://{s3_bucket}/ws", out) == 0
    assert read_page_markdown(out / "s3do" / "s3doc0001_page2.md").natural_text == "From S3"
    assert len(pdfium.PdfDocument(out / "s3do" / "s3doc0001_page3.pdf")) == 1
    assert not (out / ".pdf_cache").exists()  # the downloaded sources are removed at the end
