"""Fixtures for the data-tool tests: generated PDFs, the shared real fixtures, and real local servers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from local_servers import OpenAIStub
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


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=False)
    return dst
