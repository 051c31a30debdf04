"""Fixtures for the data-tool tests: generated PDFs, the shared real fixtures, and real local servers."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from local_servers import FileServer, OpenAIStub

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
ASSETS = Path(__file__).resolve().parent / "assets"
SECRET_KEY = "sk-test-DO-NOT-LEAK-8f3a"


def make_pdf(pages: list[dict]) -> bytes:
    """A small real PDF: each page dict has width, height, text (Helvetica), optional rotate and crop box."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    pages_id = len(pages) * 2 + 2  # filled in order below: content, page, ..., then the Pages node
    for page in pages:
        text = page.get("text", "").replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 36 {page['height'] - 48} Td ({text}) Tj ET".encode() if text else b""
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        extra = b""
        if page.get("rotate"):
            extra += b" /Rotate %d" % page["rotate"]
        if page.get("cropbox"):
            extra += b" /CropBox [%s]" % " ".join(str(v) for v in page["cropbox"]).encode()
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Contents %d 0 R"
                b" /Resources << /Font << /F1 %d 0 R >> >>%s >>"
                % (pages_id, str(page["width"]).encode(), str(page["height"]).encode(), content, font, extra)
            )
        )
    assert (
        add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids)))
        == pages_id
    )
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref))
    return out.getvalue()


def letter(text: str = "Hello page", **extra) -> dict:
    return {"width": 612, "height": 792, "text": text, **extra}


@pytest.fixture
def pair_tree(tmp_path) -> Path:
    """Three md/pdf pairs, nested, covering a table page, a blank page and a text page, plus urls.jsonl."""
    root = tmp_path / "tree"
    pages = {
        "docs/alpha": ("en", "True", "False", "Alpha text.\n\nSecond paragraph."),
        "docs/deep/beta-3": ("fr", "True", "True", "| a | b |"),
        "gamma": ("null", "True", "False", ""),
    }
    for stem, (lang, valid, table, text) in pages.items():
        (root / stem).parent.mkdir(parents=True, exist_ok=True)
        head = (
            f"---\nprimary_language: {lang}\nis_rotation_valid: {valid}\nrotation_correction: 0\n"
            f"is_table: {table}\nis_diagram: False\n---"
        )
        (root / f"{stem}.md").write_text(f"{head}\n{text}" if text else head, encoding="utf-8")
        (root / f"{stem}.pdf").write_bytes(make_pdf([letter(f"Page {stem}")]))
    (root / "urls.jsonl").write_text(
        '{"id": "docs/alpha", "url": "https://example.org/alpha"}\n{"id": "gamma", "url": "https://example.org/g"}\n'
    )
    return root


@pytest.fixture
def shared_fixtures() -> Path:
    if not (SHARED / "fixtures").is_dir():
        pytest.skip("shared/fixtures is not present")
    return SHARED / "fixtures"


@pytest.fixture
def openai_stub(monkeypatch):
    server = OpenAIStub().start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    yield server
    server.stop()


@pytest.fixture
def file_server():
    server = FileServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _moto_server():
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(_moto_server, monkeypatch):
    """A fresh bucket on the local S3-compatible server; the fs layer reaches it through AWS_ENDPOINT_URL."""
    from vlm_ocr.prep import fs

    for key, value in {
        "AWS_ENDPOINT_URL": _moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    fs._s3_client.cache_clear()
    client = fs.s3_client()
    bucket = f"bucket-{len(client.list_buckets()['Buckets'])}"
    client.create_bucket(Bucket=bucket)
    yield bucket
    fs._s3_client.cache_clear()


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=False)
    return dst
