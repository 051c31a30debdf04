"""prepare_loc_transcripts and prepare_national_archive_transcripts against a real local HTTP server."""

import csv
import io
import json

import pypdfium2 as pdfium
import pytest
from PIL import Image

from data_tools import prepare_loc_transcripts as loc
from data_tools import prepare_national_archive_transcripts as nara
from vlm_ocr.errors import InputError
from vlm_ocr.pages.front_matter import read_page_markdown
from vlm_ocr.prep.fetch import RetryPolicy
from vlm_ocr.prep.runner import RunArgs

FAST = RetryPolicy(attempts=3, backoff_s=0.001, max_backoff_s=0.01, timeout_s=5)


def image_bytes(fmt: str, size=(120, 80), frames=1, **save) -> bytes:
    buffer = io.BytesIO()
    images = [Image.new("RGB", size, (40 * i, 100, 200)) for i in range(frames)]
    images[0].save(buffer, format=fmt, save_all=frames > 1, append_images=images[1:], **save)
    return buffer.getvalue()


def pdf_page(path):
    doc = pdfium.PdfDocument(path)
    try:
        assert len(doc) == 1
        return tuple(round(v) for v in doc[0].get_size())
    finally:
        doc.close()


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["Campaign", "Asset", "AssetStatus", "DownloadUrl", "Transcription"])
        writer.writeheader()
        writer.writerows(rows)


def test_loc_downloads_retries_filters_and_resumes(tmp_path, file_server):
    jpeg = image_bytes("JPEG", dpi=(100, 100))
    file_server.files["/iiif/a/full/full/0/default.jpg"] = (jpeg, "image/jpeg")
    file_server.failures["/iiif/a/full/full/0/default.jpg"] = [503, 429]
    file_server.files["/iiif/b.jpg"] = (jpeg, "image/jpeg")
    base = file_server.url
    rows = [
        {
            "Asset": "letter/a:1",
            "AssetStatus": "completed",
            "DownloadUrl": f"{base}/iiif/a/full/pct:25/0/default.jpg",
            "Transcription": "Dear [?] friend,\nhello",
        },
        {"Asset": "b" * 230, "AssetStatus": "completed", "DownloadUrl": f"{base}/iiif/b.jpg", "Transcription": ""},
        {"Asset": "draft", "AssetStatus": "in_progress", "DownloadUrl": f"{base}/iiif/b.jpg", "Transcription": "x"},
        {"Asset": "gone", "AssetStatus": "completed", "DownloadUrl": f"{base}/missing.jpg", "Transcription": "x"},
        {
            "Asset": "huge",
            "AssetStatus": "completed",
            "DownloadUrl": f"{base}/stream-forever.jpg",
            "Transcription": "x",
        },
        {"Asset": "", "AssetStatus": "completed", "DownloadUrl": f"{base}/iiif/b.jpg", "Transcription": "no asset"},
    ]
    inputs = tmp_path / "csvs"
    inputs.mkdir()
    write_csv(inputs / "campaign-one.csv", rows)
    write_csv(inputs / "campaign-two.csv", rows[1:2])  # the same asset in a second campaign is written again
    (inputs / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    assert loc.main(input_dir=str(inputs), output_dir=out, retry=FAST, max_download_mb=1, run=RunArgs(workers=2)) == 1
    md = read_page_markdown(out / "campaign-one" / "letter_a_1.md")
    assert md.natural_text == "Dear [?] friend,\nhello" and md.primary_language == "en"
    assert pdf_page(out / "campaign-one" / "letter_a_1.pdf") == (86, 58)  # 120x80 px at 100 dpi
    assert file_server.hits["/iiif/a/full/full/0/default.jpg"] == 3  # IIIF full size, after two retries
    long_name = loc.safe_name("b" * 230)
    assert len(long_name) == 159 and (out / "campaign-two" / f"{long_name}.pdf").exists()
    assert (out / "campaign-one" / f"{long_name}.md").read_text().endswith("---")
    # the JPEG is embedded as it is (lossless)
    assert jpeg in (out / "campaign-one" / "letter_a_1.pdf").read_bytes()
    errors = (out / "errors.jsonl").read_text()
    assert "404" in errors and "exceeds the 1048576-byte limit" in errors
    meta = json.loads((out / "_meta.json").read_text())["counts"]
    assert (meta["processed"], meta["failed"], meta["dropped_reasons"]) == (3, 2, {"status in_progress": 1})
    hits = dict(file_server.hits)
    assert loc.main(input_dir=str(inputs), output_dir=out, retry=FAST, max_download_mb=1) == 1
    assert json.loads((out / "_meta.json").read_text())["counts"]["skipped"] == 3
    assert file_server.hits["/iiif/b.jpg"] == hits["/iiif/b.jpg"]  # nothing downloaded again
    raw = tmp_path / "raw"
    file_server.files["/one.csv"] = ((inputs / "campaign-two.csv").read_bytes(), "text/csv")
    assert loc.main(input_dir=f"{base}/one.csv", output_dir=raw, front_matter=False, retry=FAST) == 0
    assert (raw / "one" / f"{long_name}.md").read_text() == ""


def nara_record(na_id, objects, transcriptions, status="Unrestricted", ai=False):
    return {
        "record": {"naId": na_id, "accessRestriction": {"status": status}, "digitalObjects": objects},
        "record_tag": [{"aiMachineGenerated": ai}],
        "record_transcription": transcriptions,
    }


def transcription(object_id, text, sequence, page=1):
    return {
        "target": {"objectId": object_id, "naId": 555, "pageNum": page},
        "contributionType": "transcription",
        "contribution": text,
        "contributionSequence": sequence,
    }


def test_nara_latest_transcription_tiff_conversion_and_filters(tmp_path, file_server):
    base = file_server.url
    file_server.files["/obj/1.tif"] = (image_bytes("TIFF", size=(300, 200), dpi=(150, 150)), "image/tiff")
    file_server.files["/obj/2.jpg"] = (image_bytes("JPEG"), "image/jpeg")
    file_server.files["/obj/3.tif"] = (image_bytes("TIFF", frames=2), "image/tiff")
    file_server.failures["/obj/2.jpg?X-Amz=1"] = [500]
    file_server.files["/obj/2.jpg?X-Amz=1"] = file_server.files["/obj/2.jpg"]
    records = [
        nara_record(
            555,
            [
                {"objectId": "1", "objectType": "Image (TIFF)", "objectUrl": f"{base}/obj/1.tif"},
                {"objectId": "2", "objectType": "Image (JPG)", "objectUrl": f"{base}/obj/2.jpg?X-Amz=1"},
                {"objectId": "3", "objectType": "Image (TIFF)", "objectUrl": f"{base}/obj/3.tif"},
                {"objectId": "4", "objectType": "Text (PDF)", "objectUrl": f"{base}/obj/4.pdf"},
                {"objectId": "5", "objectType": "Image (JPG)", "objectUrl": f"{base}/obj/5.jpg"},
            ],
            [
                transcription("1", "old version", 1),
                transcription("1", "newest version", 3),
                transcription("1", "middle version", 2),
                transcription(2, "second object", 1, page=2),
                transcription("3", "multi frame", 1),
            ],
        ),
        nara_record(
            556,
            [{"objectId": "9", "objectType": "Image", "objectUrl": f"{base}/obj/2.jpg"}],
            [transcription("9", "secret", 1)],
            status="Restricted - Partly",
        ),
        nara_record(
            557,
            [{"objectId": "8", "objectType": "Image", "objectUrl": f"{base}/obj/2.jpg"}],
            [transcription("8", "ai", 1)],
            ai=True,
        ),
    ]
    inputs = tmp_path / "exports" / "series-a"
    inputs.mkdir(parents=True)
    (inputs / "batch1.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n{oops\n")
    out = tmp_path / "out"
    assert nara.main(input_dir=tmp_path / "exports", output_dir=out, retry=FAST) == 1
    folder = out / "series-a" / "batch1"
    assert read_page_markdown(folder / "555-1-page-1.md").natural_text == "newest version"
    assert pdf_page(folder / "555-1-page-1.pdf") == (144, 96)  # TIFF -> JPEG, page size from its 150 dpi
    assert read_page_markdown(folder / "555-2-page-2.md").natural_text == "second object"  # after a 500
    assert sorted(p.name for p in folder.iterdir()) == [
        "555-1-page-1.md",
        "555-1-page-1.pdf",
        "555-2-page-2.md",
        "555-2-page-2.pdf",
    ]
    meta = json.loads((out / "_meta.json").read_text())["counts"]
    assert meta["dropped_reasons"] == {
        "access restricted": 1,
        "AI-generated tags": 1,
        "not an image object": 1,
        "no transcription": 1,
    }
    errors = (out / "errors.jsonl").read_text()
    assert "multi-frame image (2 frames)" in errors and "undecodable JSON line" in errors
    assert nara.main(input_dir=tmp_path / "exports", output_dir=out, retry=FAST) == 1
    assert json.loads((out / "_meta.json").read_text())["counts"]["skipped"] == 2
    with pytest.raises(InputError, match="no \\*.jsonl file"):
        nara.main(input_dir=tmp_path / "nothing", output_dir=out)
