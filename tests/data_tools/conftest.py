"""Fixtures for the data-tool tests: generated PDFs, the shared real fixtures, and real local servers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from local_servers import FileServer, OpenAIStub
from pdf_fixtures import SECRET_KEY, letter, make_pdf

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
ASSETS = Path(__file__).resolve().parent / "assets"


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
