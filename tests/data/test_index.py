import io
import shutil

import pypdfium2 as pdfium
import pytest

from vlm_ocr.data.index import build_index


def two_page_pdf() -> bytes:
    doc = pdfium.PdfDocument.new()
    doc.new_page(200, 300)
    doc.new_page(200, 300)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


GOOD_MD = (
    "---\nprimary_language: en\nis_rotation_valid: True\nrotation_correction: 0\n"
    "is_table: False\nis_diagram: False\n---\nText"
)


def test_bad_inputs_are_reported_with_file_and_reason(pair_copy, shared_fixtures):
    root, add = pair_copy
    good_pdf = next((root / "document").glob("*.pdf")).read_bytes()
    add("corrupt.md", GOOD_MD)
    add("corrupt.pdf", b"%PDF-1.4 this is not a pdf")
    add("twopages.md", GOOD_MD)
    add("twopages.pdf", two_page_pdf())
    add("orphan.md", GOOD_MD)
    add("extra.md", GOOD_MD.replace("---\nprimary", "---\npage_number: 1\nprimary"))
    add("extra.pdf", good_pdf)
    add("malformed.md", GOOD_MD.replace("True", "maybe", 1))
    add("malformed.pdf", good_pdf)
    add("empty.md", "")
    add("empty.pdf", good_pdf)
    add("crlf.md", GOOD_MD.replace("\n", "\r\n"))
    add("crlf.pdf", good_pdf)
    add("encrypted.md", GOOD_MD)
    shutil.copy(_encrypted_pdf(shared_fixtures, root), root / "encrypted.pdf")
    index = build_index(root)
    reasons = {b.path.rsplit("/", 1)[-1]: b.reason for b in index.bad}
    assert reasons["corrupt.pdf"].startswith("cannot open PDF")
    assert reasons["twopages.pdf"] == "expected exactly one page, found 2"
    assert reasons["orphan.md"] == "no PDF beside the Markdown file"
    assert reasons["extra.md"] == "unexpected front-matter keys: page_number"
    assert "must be true or false" in reasons["malformed.md"]
    assert reasons["empty.md"] == "empty file"
    assert reasons["encrypted.pdf"] == "cannot open PDF: encrypted (password required)"
    good = {p.markdown_path.rsplit("/", 1)[-1] for p in index.pages}
    assert "crlf.md" in good and len(good) == 3
    assert index.bad_fraction == pytest.approx(7 / 10)


def _encrypted_pdf(shared_fixtures, root):
    """An AES-encrypted copy of a real fixture PDF, written with pypdf when available."""
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(str(shared_fixtures / "pdfs" / "edgar.pdf"))
    writer = pypdf.PdfWriter()
    writer.append(reader)
    writer.encrypt(user_password="secret", algorithm="AES-128")
    out = root.parent / "encrypted.pdf"
    with open(out, "wb") as handle:
        writer.write(handle)
    return out


def test_index_cache_reuses_and_revalidates(pair_copy, tmp_path, caplog):
    root, add = pair_copy
    cache = tmp_path / "cache"
    first = build_index(root, cache_dir=cache)
    assert len(first.pages) == 2 and not first.bad
    caplog.set_level("INFO", logger="vlm_ocr.data.index")
    second = build_index(root, cache_dir=cache)
    assert second.pages == first.pages
    assert "(0 validated, 2 from cache)" in caplog.text
    md = next((root / "document").glob("*.md"))
    md.write_text(md.read_text().replace("is_table: False", "is_table: maybe"))
    third = build_index(root, cache_dir=cache)
    assert len(third.pages) == 1 and third.bad[0].path == str(md)


def test_parallel_validation_matches_inline(sample_data_dir):
    inline = build_index(sample_data_dir / "train", workers=1)
    parallel = build_index(sample_data_dir / "train", workers=2)
    assert inline.pages == parallel.pages and inline.bad == parallel.bad


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="data root is not a folder"):
        build_index(tmp_path / "nope")
