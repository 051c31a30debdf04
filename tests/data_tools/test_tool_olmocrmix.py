"""repackage_olmocrmix <-> prepare_olmocrmix: byte-exact round trip, tar cap, resume, bad rows, hub download."""

import json
import os
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pdf_fixtures import letter, make_pdf

from data_tools import prepare_olmocrmix, repackage_olmocrmix
from vlm_ocr.errors import InputError
from vlm_ocr.prep.olmocrmix import MIX_0225, PARQUET_SCHEMA, TAR_TAIL, gzip_bound, tar_entry_bytes, write_parquet
from vlm_ocr.prep.runner import RunArgs


def tree_files(root: Path) -> dict[str, bytes]:
    """Every md/pdf of a pair tree (links followed) -> bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.suffix in (".md", ".pdf") and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def url_lines(root: Path) -> set[str]:
    return {line for line in (root / "urls.jsonl").read_text().splitlines() if line}


def round_trip(src: Path, tmp_path: Path, **repackage) -> Path:
    hf = tmp_path / "hf"
    assert (
        repackage_olmocrmix.main(
            processed_dir=src, subset="00_documents", split="train", output_dir=hf, run=RunArgs(workers=2), **repackage
        )
        == 0
    )
    assert (
        prepare_olmocrmix.main(
            dataset_path=str(hf),
            subset="00_documents",
            split="train",
            destination=tmp_path / "dest",
            run=RunArgs(workers=2),
        )
        == 0
    )
    return tmp_path / "dest" / "processed_00_documents_train"


def test_round_trip_reproduces_the_pair_tree_byte_for_byte(pair_tree, tmp_path):
    out = round_trip(pair_tree, tmp_path)
    assert tree_files(out) == tree_files(pair_tree)
    assert len(tree_files(out)) == 6
    assert url_lines(out) == url_lines(pair_tree)
    assert (out / "gamma.md").read_text().endswith("is_diagram: False\n---")  # blank page: no trailing newline
    table = pq.read_table(tmp_path / "hf" / "00_documents_train.parquet")
    assert table.schema.equals(PARQUET_SCHEMA)
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["docs/deep/beta-3"]["page_number"] == 3 and rows["docs/deep/beta-3"]["is_table"] is True
    assert rows["gamma"]["primary_language"] is None and rows["gamma"]["natural_text"] is None
    assert rows["docs/alpha"]["pdf_relpath"] == "pdf_tarballs/00_documents_train_00000.tar.gz:docs/alpha.pdf"
    manifest = [json.loads(line) for line in (tmp_path / "hf" / "pdf_chunk_manifest.jsonl").read_text().splitlines()]
    assert [m["doc_id"] for m in manifest] == ["docs/alpha", "docs/deep/beta-3", "gamma"]


def test_round_trip_of_the_real_sample_dataset(shared_fixtures, tmp_path):
    src = shared_fixtures / "olmocr_sample_dataset"
    out = round_trip(src, tmp_path)
    assert tree_files(out) == tree_files(src) and len(tree_files(src)) == 6
    assert url_lines(out) == url_lines(src)
    # links are relative and point into the extracted tarballs inside the destination
    link = out / "simple_document" / "edgar.pdf"
    assert not os.path.isabs(os.readlink(link)) and "extracted" in os.readlink(link)


def test_tar_cap_splits_chunks_and_every_chunk_fits(pair_tree, tmp_path):
    biggest = max(p.stat().st_size for p in pair_tree.rglob("*.pdf"))
    one = gzip_bound(TAR_TAIL + tar_entry_bytes(biggest, "docs/deep/beta-3.pdf"), "00_documents_train_00000.tar.gz")
    cap = one + 200  # room for one PDF per tarball, not two
    out = round_trip(pair_tree, tmp_path, max_tar_size_bytes=cap)
    tarballs = sorted((tmp_path / "hf" / "pdf_tarballs").glob("*.tar.gz"))
    assert [t.name for t in tarballs] == [f"00_documents_train_{i:05d}.tar.gz" for i in range(3)]
    assert all(t.stat().st_size <= cap for t in tarballs)
    assert tree_files(out) == tree_files(pair_tree)
    with pytest.raises(RuntimeError, match="cannot fit"):
        repackage_olmocrmix.main(
            processed_dir=pair_tree, subset="s", split="t", output_dir=tmp_path / "tiny", max_tar_size_bytes=1000
        )


def test_rerun_skips_finished_work_and_rebuilds_a_stale_tarball(pair_tree, tmp_path):
    out = round_trip(pair_tree, tmp_path)
    meta = lambda p: json.loads(p.read_text())["counts"]  # noqa: E731
    round_trip(pair_tree, tmp_path)
    assert meta(out / "_meta.json")["skipped"] == 3 and meta(out / "_meta.json")["processed"] == 0
    assert meta(tmp_path / "hf" / "_meta.json")["skipped"] == 1
    (tmp_path / "hf" / "pdf_tarballs" / "00_documents_train_00000.tar.gz").write_bytes(b"torn")
    round_trip(pair_tree, tmp_path)
    assert meta(tmp_path / "hf" / "_meta.json")["processed"] == 1
    with tarfile.open(tmp_path / "hf" / "pdf_tarballs" / "00_documents_train_00000.tar.gz") as tar:
        assert tar.getnames() == ["docs/alpha.pdf", "docs/deep/beta-3.pdf", "gamma.pdf"]


def test_repackage_bad_pairs_are_recorded_and_strict_fails(pair_tree, tmp_path):
    (pair_tree / "docs" / "alpha.md").write_text("---\nprimary_language: en\n---\nno other keys")
    (pair_tree / "orphan.md").write_text((pair_tree / "gamma.md").read_text())
    extra = (pair_tree / "gamma.md").read_text().replace("---\nprimary", "---\npage_number: 9\nprimary", 1)
    (pair_tree / "gamma.md").write_text(extra)
    hf = tmp_path / "hf"
    assert repackage_olmocrmix.main(processed_dir=pair_tree, subset="a", split="b", output_dir=hf) == 0
    errors = (hf / "errors.records.jsonl").read_text()
    assert "docs/alpha" in errors and "lacks" in errors and "no PDF for orphan" in errors
    rows = {r["id"]: r for r in pq.read_table(hf / "a_b.parquet").to_pylist()}
    assert set(rows) == {"docs/deep/beta-3", "gamma"}
    assert rows["gamma"]["page_number"] == 9 and json.loads(rows["gamma"]["extras"]) == {"page_number": "9"}
    assert repackage_olmocrmix.main(processed_dir=pair_tree, subset="a", split="b", output_dir=hf, strict=True) == 1


def _mix(tmp_path: Path, rows: list[dict], pdfs: dict[str, bytes]) -> Path:
    """A hand-made dataset folder in the published layout: `<tag>.parquet` + `pdf_tarballs/<tag>_00000.tar.gz`."""
    hf = tmp_path / "mix"
    (hf / "pdf_tarballs").mkdir(parents=True)
    with tarfile.open(hf / "pdf_tarballs" / "s_t_00000.tar.gz", "w:gz") as tar:
        for name, data in pdfs.items():
            (tmp_path / "tmp.pdf").write_bytes(data)
            tar.add(tmp_path / "tmp.pdf", arcname=name)
    full = [{name: None for name in PARQUET_SCHEMA.names} | row for row in rows]
    write_parquet(full, hf / "s_t.parquet", "snappy")
    return hf


def test_prepare_handles_bad_rows_without_orphans(tmp_path):
    pdf = make_pdf([letter()])
    rows = [
        {
            "id": "good",
            "url": "https://x/good",
            "primary_language": "no",
            "is_rotation_valid": True,
            "rotation_correction": 45,
            "is_table": False,
            "is_diagram": False,
            "natural_text": "Hei",
            "extras": json.dumps({"page_number": 2}),
        },
        {"id": "nopdf", "url": None, "natural_text": "x"},
        {"id": "../../evil", "natural_text": "x"},
        {"id": "nested/deep/one", "url": "https://x/one", "natural_text": "  "},
    ]
    hf = _mix(tmp_path, rows, {"good.pdf": pdf, "nested/deep/one.pdf": pdf})
    dest = tmp_path / "dest"
    assert prepare_olmocrmix.main(dataset_path=str(hf), subset="s", split="t", destination=dest) == 1
    out = dest / "processed_s_t"
    assert (out / "good.md").read_text() == (
        "---\nprimary_language: 'no'\nis_rotation_valid: True\nrotation_correction: 0\nis_table: False\n"
        "is_diagram: False\n---\nHei"
    )  # quoted Norwegian, invalid rotation coerced to 0, extras kept out of the front matter
    assert (out / "nested" / "deep" / "one.md").read_text().endswith("---")
    assert not (out / "nopdf.md").exists() and not (tmp_path / "evil.md").exists()
    errors = (out / "errors.jsonl").read_text()
    assert "not in the extracted tarballs" in errors and "unsafe doc_id" in errors
    assert url_lines(out) == {
        '{"id": "good", "url": "https://x/good"}',
        '{"id": "nested/deep/one", "url": "https://x/one"}',
    }


def test_prepare_max_examples_and_argument_checks(tmp_path):
    pdf = make_pdf([letter()])
    rows = [{"id": f"doc{i}", "natural_text": f"t{i}"} for i in range(4)]
    hf = _mix(tmp_path, rows, {f"doc{i}.pdf": pdf for i in range(4)})
    prepare_olmocrmix.main(dataset_path=str(hf), subset="s", split="t", destination=tmp_path / "d", max_examples=2)
    assert sorted(p.name for p in (tmp_path / "d" / "processed_s_t").glob("*.md")) == ["doc0.md", "doc1.md"]
    prepare_olmocrmix.main(dataset_path=str(hf), subset="s", split="t", destination=tmp_path / "z", max_examples=0)
    assert not list((tmp_path / "z" / "processed_s_t").glob("*.md"))
    with pytest.raises(InputError, match="subset"):
        prepare_olmocrmix.main(dataset_path=str(hf), destination=tmp_path / "d")
    with pytest.raises(InputError, match="has no 02_loc"):  # checked before any download
        prepare_olmocrmix.main(dataset_path=MIX_0225, subset="02_loc", split="train", destination=tmp_path / "d")


def test_hub_id_downloads_only_the_tag(tmp_path, monkeypatch):
    import shutil

    import huggingface_hub

    pdf = make_pdf([letter()])
    source = _mix(tmp_path, [{"id": "doc0", "natural_text": "t"}], {"doc0.pdf": pdf})
    calls = []

    def fake_snapshot(repo_id, repo_type, local_dir, allow_patterns):
        calls.append((repo_id, repo_type, allow_patterns))
        shutil.copytree(source, local_dir, dirs_exist_ok=True)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    assert prepare_olmocrmix.main(dataset_path="org/mix-1025", subset="s", split="t", destination=tmp_path / "d") == 0
    assert calls == [
        ("org/mix-1025", "dataset", ["s_t.parquet", "pdf_tarballs/s_t_[0-9]*.tar.gz", "README.md", "*.json"])
    ]
    assert (tmp_path / "d" / "processed_s_t" / "doc0.md").exists()


def test_unsafe_tarball_is_refused(tmp_path):
    import io

    hf = _mix(tmp_path, [{"id": "doc0", "natural_text": "t"}], {"doc0.pdf": make_pdf([letter()])})
    with tarfile.open(hf / "pdf_tarballs" / "s_t_00001.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("../../../escaped.pdf")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    prepare_olmocrmix.main(dataset_path=str(hf), subset="s", split="t", destination=tmp_path / "d")
    extracted = tmp_path / "d" / "hugging_face" / "pdf_tarballs" / "extracted"
    assert "UnsafeArchiveError" in (extracted / "errors.extract.jsonl").read_text()
    assert not list(tmp_path.rglob("escaped.pdf"))
    assert (tmp_path / "d" / "processed_s_t" / "doc0.md").exists()


def test_a_local_copy_of_0225_uses_its_flat_id_layout(tmp_path):
    pdf = make_pdf([letter()])
    hf = _mix(tmp_path, [{"id": "abcd1234", "natural_text": "flat"}], {"abcd1234.pdf": pdf})
    (hf / "s_t.parquet").rename(hf / "train-s2pdf.parquet")
    assert (
        prepare_olmocrmix.main(
            dataset_path=str(hf), subset="00_documents", split="train_s2pdf", destination=tmp_path / "d"
        )
        == 0
    )
    out = tmp_path / "d" / "processed_00_documents_train_s2pdf"
    assert (out / "abcd" / "1234.md").read_text().endswith("---\nflat")
    assert (out / "abcd" / "1234.pdf").read_bytes() == pdf
