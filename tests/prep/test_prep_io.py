"""Shared I/O layers: batch line formats and rollover, safe tar extraction, HTTP fetch, the local/S3/http fs layer."""

import io
import json
import tarfile

import pytest

from vlm_ocr.prep import batch_io, fs
from vlm_ocr.prep.archive import UnsafeArchiveError, extract_tar
from vlm_ocr.prep.batch_io import PageRef, RolloverWriter, format_custom_id, parse_custom_id, parse_result_line
from vlm_ocr.prep.fetch import DownloadError, DownloadTooLarge, RetryPolicy, download

FAST = RetryPolicy(attempts=4, backoff_s=0.001, max_backoff_s=0.01, timeout_s=5)


# --- custom_id and result lines -------------------------------------------------------------------------


def test_custom_ids_round_trip_exact_paths():
    assert format_custom_id("sub/x.pdf-3.pdf") == "sub/x.pdf-3.pdf"
    assert parse_custom_id("sub/x.pdf-3.pdf") == [PageRef("sub/x.pdf-3.pdf")]
    assert parse_custom_id(format_custom_id("a/doc.pdf", 7)) == [PageRef("a/doc.pdf", 7)]
    assert PageRef("a/doc.pdf", 7).output_stem == "a/doc_page7"
    # the original's stripped ids still resolve, with its `.pdf-N.pdf` fallback as second guess
    assert parse_custom_id("sub/x-3") == [PageRef("sub/x-3.pdf"), PageRef("sub/x.pdf-3.pdf")]
    for bad in ("../etc/passwd.pdf", "/abs.pdf", ""):
        with pytest.raises(ValueError):
            parse_custom_id(bad)
    with pytest.raises(ValueError):
        format_custom_id("../x.pdf")


def _result(content, status=200, finish="stop", refusal=None, choices=True):
    body = {
        "choices": [{"message": {"content": content, "refusal": refusal}, "finish_reason": finish}] if choices else []
    }
    return json.dumps({"custom_id": "a.pdf", "response": {"status_code": status, "body": body}, "error": None})


PAGE = {
    "primary_language": "no",
    "is_rotation_valid": True,
    "rotation_correction": 90,
    "is_table": False,
    "is_diagram": False,
    "natural_text": "Hei",
}


def test_result_lines_success_and_every_failure_kind():
    ok = parse_result_line(_result(json.dumps(PAGE)))
    assert ok.error is None and ok.page.primary_language == "no" and ok.page.rotation_correction == 90
    assert (
        "request failed"
        in parse_result_line(json.dumps({"custom_id": "a", "response": None, "error": {"code": "x"}})).error
    )
    assert "request failed" in parse_result_line(_result("{}", status=500)).error
    assert parse_result_line(_result(None, choices=False)).error == "response has no choices"
    assert parse_result_line(_result(None, refusal="no")).error == "refused: no"
    assert "truncated" in parse_result_line(_result('{"primary_lang', finish="length")).error
    assert "invalid page JSON" in parse_result_line(_result("not json")).error
    assert "invalid page JSON" in parse_result_line(_result(json.dumps({**PAGE, "rotation_correction": 45}))).error
    blank = parse_result_line(_result(json.dumps({**PAGE, "primary_language": "", "natural_text": "null"})))
    assert blank.page.primary_language is None and blank.page.natural_text is None


# --- rollover -------------------------------------------------------------------------------------------


def _line(i, size=100):
    return batch_io.chat_request_line(f"doc{i}.pdf", {"pad": "x" * size})


def test_rollover_respects_the_cap_counting_newlines(tmp_path):
    writer = RolloverWriter(tmp_path, max_bytes=600)
    assert writer.start(resume=True) == set()
    for i in range(10):
        writer.write(f"doc{i}.pdf", _line(i))
    writer.close()
    parts = sorted(tmp_path.glob("batch_requests_*.jsonl"))
    assert [p.name for p in parts][:2] == ["batch_requests_0000.jsonl", "batch_requests_0001.jsonl"]
    assert all(p.stat().st_size <= 600 for p in parts)
    ids = [json.loads(line)["custom_id"] for p in parts for line in p.read_text().splitlines()]
    assert ids == [f"doc{i}.pdf" for i in range(10)]
    with pytest.raises(ValueError, match="file cap"):
        RolloverWriter(tmp_path / "x", max_bytes=50).write("big", _line(0))


def test_rollover_salvages_a_torn_partial_part_after_a_kill(tmp_path):
    writer = RolloverWriter(tmp_path, max_bytes=450)
    writer.start(resume=True)
    for i in range(4):
        writer.write(f"doc{i}.pdf", _line(i))
    writer._handle.close()  # the process dies here: part 0 is finished, part 1 is still `.partial`
    partial = tmp_path / ".batch_requests_0001.jsonl.partial"
    partial.write_bytes(partial.read_bytes() + _line(4).encode()[:50])  # a torn last line
    resumed = RolloverWriter(tmp_path, max_bytes=450)
    assert resumed.start(resume=True) == {f"doc{i}.pdf" for i in range(4)}
    resumed.write("doc4.pdf", _line(4))
    resumed.close()
    lines = [line for p in sorted(tmp_path.glob("batch_requests_*.jsonl")) for line in p.read_text().splitlines()]
    assert [json.loads(line)["custom_id"] for line in lines] == [f"doc{i}.pdf" for i in range(5)]
    assert not list(tmp_path.glob(".*partial"))
    fresh = RolloverWriter(tmp_path, max_bytes=450)
    assert fresh.start(resume=False) == set() and not list(tmp_path.glob("batch_requests_*"))


# --- archives ------------------------------------------------------------------------------------------


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_extract_tar_writes_members_and_refuses_escapes(tmp_path):
    _tar(tmp_path / "ok.tar.gz", [("a/b.pdf", b"%PDF-1", "file"), ("c.pdf", b"%PDF-2", "file")])
    assert extract_tar(tmp_path / "ok.tar.gz", tmp_path / "out") == 2
    assert (tmp_path / "out" / "a" / "b.pdf").read_bytes() == b"%PDF-1"
    for name, members in {
        "dotdot": [("../escape.pdf", b"x", "file")],
        "absolute": [("/tmp/abs-escape.pdf", b"x", "file")],
        "link": [("evil.pdf", b"", "link")],
    }.items():
        _tar(tmp_path / f"{name}.tar.gz", members)
        with pytest.raises(UnsafeArchiveError):
            extract_tar(tmp_path / f"{name}.tar.gz", tmp_path / "out2")
    assert not (tmp_path / "escape.pdf").exists() and not (tmp_path / "out2" / "evil.pdf").exists()


# --- HTTP fetch ----------------------------------------------------------------------------------------


def test_download_retries_429_and_5xx_then_succeeds(file_server, tmp_path):
    file_server.files["/img.jpg"] = (b"abc" * 1000, "image/jpeg")
    file_server.failures["/img.jpg"] = [503, 429, 500]
    sleeps = []
    size = download(
        f"{file_server.url}/img.jpg", tmp_path / "img.jpg", max_bytes=10_000, policy=FAST, sleep=sleeps.append
    )
    assert size == 3000 and (tmp_path / "img.jpg").read_bytes() == b"abc" * 1000
    assert file_server.hits["/img.jpg"] == 4 and len(sleeps) == 3
    assert sleeps[1] == 0.0  # the 429's Retry-After: 0 is honoured


def test_download_gives_up_and_does_not_retry_404(file_server, tmp_path):
    file_server.files["/x"] = (b"x", "text/plain")
    file_server.failures["/x"] = [502] * 10
    with pytest.raises(DownloadError, match="after 4 tries"):
        download(f"{file_server.url}/x", tmp_path / "x", policy=FAST, sleep=lambda s: None)
    with pytest.raises(DownloadError, match="404"):
        download(f"{file_server.url}/missing", tmp_path / "m", policy=FAST, sleep=lambda s: None)
    assert file_server.hits["/missing"] == 1 and not list(tmp_path.iterdir())


def test_download_size_cap_declared_and_streamed(file_server, tmp_path):
    file_server.files["/big"] = (b"z" * 5000, "application/octet-stream")
    with pytest.raises(DownloadTooLarge, match="declared"):
        download(f"{file_server.url}/big", tmp_path / "big", max_bytes=1000, policy=FAST)
    with pytest.raises(DownloadTooLarge, match="exceeds"):
        download(f"{file_server.url}/stream-forever", tmp_path / "s", max_bytes=300_000, policy=FAST)
    assert not list(tmp_path.iterdir())  # no partial file left behind


def test_download_retries_connection_errors(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    calls = []
    with pytest.raises(DownloadError, match="after 4 tries"):
        download(f"http://127.0.0.1:{port}/x", tmp_path / "x", policy=FAST, sleep=calls.append)
    assert len(calls) == 3


# --- fs layer --------------------------------------------------------------------------------------------


def test_local_listing_is_sorted_and_skips_hidden(tmp_path):
    for rel in ("b/2.pdf", "a/1.pdf", ".cache/x.pdf", "a/.hidden.pdf", "c.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert fs.list_files(tmp_path, ".pdf") == [str(tmp_path / "a/1.pdf"), str(tmp_path / "b/2.pdf")]
    assert fs.glob_paths(str(tmp_path / "**" / "*.pdf")) == [str(tmp_path / "a/1.pdf"), str(tmp_path / "b/2.pdf")]
    assert fs.relative_to(str(tmp_path / "a/1.pdf"), str(tmp_path)) == "a/1.pdf"
    with pytest.raises(ValueError):
        fs.relative_to("/elsewhere/x.pdf", str(tmp_path))


def test_s3_listing_glob_read_and_cached_copy(s3_client, s3_bucket, tmp_path):
    for key in ("docs/b.pdf", "docs/a.pdf", "docs/sub/c.pdf", "docs/notes.txt", "other/d.pdf"):
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode() + b"\nline2\n")
    root = f"s3://{s3_bucket}/docs"
    assert fs.list_files(root, ".pdf") == [f"{root}/a.pdf", f"{root}/b.pdf", f"{root}/sub/c.pdf"]
    assert fs.list_files(root, ".pdf", recursive=False) == [f"{root}/a.pdf", f"{root}/b.pdf"]
    assert fs.glob_paths(f"{root}/*.pdf") == [f"{root}/a.pdf", f"{root}/b.pdf"]  # the pattern is honoured
    assert fs.glob_paths(f"{root}/**/*.pdf") == [f"{root}/a.pdf", f"{root}/b.pdf", f"{root}/sub/c.pdf"]
    assert fs.glob_paths(f"{root}/[ab].pdf") == [f"{root}/a.pdf", f"{root}/b.pdf"]  # classes, as local glob has
    assert fs.glob_paths(f"{root}/s?b/*.pdf") == fs.glob_paths(f"{root}/s**/*.pdf") == [f"{root}/sub/c.pdf"]
    assert fs.glob_paths(f"{root}/**.pdf") == [f"{root}/a.pdf", f"{root}/b.pdf"]  # `**` in a name is `*`, as locally
    assert fs.read_bytes(f"{root}/a.pdf") == b"docs/a.pdf\nline2\n"
    assert list(fs.iter_lines(f"{root}/a.pdf")) == ["docs/a.pdf", "line2"]
    assert fs.exists(f"{root}/a.pdf") and not fs.exists(f"{root}/zzz.pdf")
    local = fs.local_copy(f"{root}/sub/c.pdf", tmp_path)
    assert local == tmp_path / s3_bucket / "docs/sub/c.pdf" and local.read_bytes().startswith(b"docs/sub/c.pdf")
    fs.write_bytes(f"{root}/new.bin", b"123")
    assert fs.read_bytes(f"{root}/new.bin") == b"123"
    assert fs.list_files(f"{root}/a.pdf") == [f"{root}/a.pdf"]  # an object is its own listing, as a local file


def test_s3_listing_sees_writes_made_after_it(s3_client, s3_bucket):
    root = f"s3://{s3_bucket}/out"
    fs.write_bytes(f"{root}/1.json", b"{}")
    assert fs.list_files(root, ".json") == [f"{root}/1.json"]
    s3_client.put_object(Bucket=s3_bucket, Key="out/2.json", Body=b"{}")  # e.g. by a worker process
    s3_client.put_object(Bucket=s3_bucket, Key="out/.cache/4.json", Body=b"{}")  # hidden: skipped, as locally
    fs.write_bytes(f"{root}/sub/3.json", b"{}")
    assert fs.list_files(root, ".json") == [f"{root}/1.json", f"{root}/2.json", f"{root}/sub/3.json"]
    assert fs.glob_paths(f"{root}/*.json") == [f"{root}/1.json", f"{root}/2.json"]
    assert fs.exists(f"{root}/2.json")


def test_s3_errors_name_the_bucket_or_key_and_leave_no_partial_copy(s3_client, s3_bucket, tmp_path):
    from botocore.exceptions import ClientError

    from vlm_ocr.errors import as_input_error

    with pytest.raises(ClientError) as missing_bucket:
        fs.list_files("s3://no-such-bucket/pdfs")
    assert str(as_input_error(missing_bucket.value)).startswith("s3: NoSuchBucket: no-such-bucket")
    with pytest.raises(ClientError) as missing_key:
        fs.local_copy(f"s3://{s3_bucket}/nope.pdf", tmp_path)
    assert str(as_input_error(missing_key.value)).startswith("s3: NoSuchKey: nope.pdf")
    s3_client.put_object(Bucket=s3_bucket, Key="big.pdf", Body=b"x" * 100)
    with pytest.raises(ValueError, match="larger than the 10-byte limit"):
        fs.local_copy(f"s3://{s3_bucket}/big.pdf", tmp_path, max_bytes=10)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert fs.local_copy(f"s3://{s3_bucket}/big.pdf", tmp_path).read_bytes() == b"x" * 100


def test_s3_filesystem_is_made_anew_in_a_forked_process(s3_bucket):
    import multiprocessing

    root = f"s3://{s3_bucket}/forked"
    fs.write_bytes(f"{root}/parent.txt", b"p")  # the parent's filesystem exists before the fork
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.starmap(fs.write_bytes, [(f"{root}/child{i}.txt", b"c") for i in range(4)])
        listed = pool.apply(fs.list_files, (root,))
    names = ("child0", "child1", "child2", "child3", "parent")
    assert listed == fs.list_files(root) == [f"{root}/{name}.txt" for name in names]


def test_http_local_copy_goes_through_fetch(file_server, tmp_path):
    file_server.files["/data/x.csv"] = (b"a,b\n1,2\n", "text/csv")
    local = fs.local_copy(f"{file_server.url}/data/x.csv", tmp_path)
    assert local.read_bytes() == b"a,b\n1,2\n" and fs.list_files(f"{file_server.url}/data/x.csv") == [
        f"{file_server.url}/data/x.csv"
    ]
