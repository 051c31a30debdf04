"""Fixtures for the bench scorer tests: a builder for small synthetic bench folders and the shared fixture slice."""

import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest

SHARED_BENCH = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "bench"


def write_pdf(path: Path, pages: int = 1) -> None:
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(72, 72)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(path)
    document.close()


@pytest.fixture
def make_bench(tmp_path):
    """Build <tmp>/bench with pdfs (name -> page count), jsonl files (name -> test dicts) and output files."""

    def make(pdfs: dict[str, int], tests: dict[str, list[dict]], outputs: dict[str, str]) -> Path:
        root = tmp_path / "bench"
        for name, pages in pdfs.items():
            write_pdf(root / "pdfs" / name, pages)
        for name, rows in tests.items():
            (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        for rel, text in outputs.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        return root

    return make


@pytest.fixture
def shared_bench() -> Path:
    if not SHARED_BENCH.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED_BENCH}")
    return SHARED_BENCH
