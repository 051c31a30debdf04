"""The olmOCR-Bench folder layout: pdfs/, *.jsonl test files, and candidate folders of <stem>_pg<N>_repeat<K>.md."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vlm_ocr.bench.loading import BenchDataError
from vlm_ocr.pages.pdf import PdfError, page_count


@dataclass(frozen=True)
class BenchLayout:
    """Where a benchmark's pieces are; `pdfs` holds paths relative to pdfs/ in POSIX form."""

    root: Path
    jsonl_files: tuple[Path, ...]
    pdfs: tuple[str, ...]
    single_file: bool
    """True when the bench was given as one .jsonl file (its PDFs are then limited to those it references)."""


def find_layout(bench: Path) -> BenchLayout:
    """Locate pdfs/ and the test files of a bench folder, or of the folder holding one .jsonl file."""
    if not bench.exists():
        raise FileNotFoundError(f"benchmark folder not found: {bench}")
    single_file = bench.is_file()
    root = bench.parent if single_file else bench
    pdf_dir = root / "pdfs"
    if not pdf_dir.is_dir():
        raise FileNotFoundError(f"benchmark folder has no pdfs/ folder: {pdf_dir}")
    pdfs = tuple(sorted(_visible(pdf_dir, "*.pdf")))
    if not pdfs:
        raise FileNotFoundError(f"no PDF files found in {pdf_dir}")
    jsonl_files = (bench,) if single_file else tuple(sorted(root.glob("*.jsonl")))
    if not jsonl_files:
        raise FileNotFoundError(f"no .jsonl test files found in {root}")
    return BenchLayout(root=root, jsonl_files=jsonl_files, pdfs=pdfs, single_file=single_file)


def _visible(folder: Path, pattern: str) -> list[str]:
    """Recursive matches as POSIX paths relative to folder, skipping hidden names (as Python's glob does)."""
    relative = (p.relative_to(folder).as_posix() for p in folder.rglob(pattern))
    return [rel for rel in relative if not any(part.startswith(".") for part in rel.split("/"))]


def page_numbers(layout: BenchLayout, pdf: str) -> range:
    """The 1-based page numbers of one of the bench's PDFs; an unreadable PDF is a BenchDataError."""
    path = layout.root / "pdfs" / pdf
    try:
        return range(1, page_count(path) + 1)
    except PdfError as exc:
        raise BenchDataError(f"cannot read page count of {path}: {exc.reason}") from exc


def candidate_dir(layout: BenchLayout, candidate: str) -> Path:
    """The candidate's output folder; any sub-folder except pdfs/ is a candidate."""
    path = layout.root / candidate
    if candidate == "pdfs" or not path.is_dir():
        raise FileNotFoundError(f"candidate folder not found: {path}")
    return path


def candidate_files(folder: Path, pdfs: tuple[str, ...]) -> dict[str, list[Path]]:
    """Per PDF, the candidate .md files whose path relative to the folder is `<pdf stem>_pg<N>_repeat<K>.md`."""
    relative = sorted(_visible(folder, "*.md"))
    files = {}
    for pdf in pdfs:
        pattern = re.compile(rf"^{re.escape(pdf.removesuffix('.pdf'))}_pg\d+_repeat\d+\.md$")
        files[pdf] = [folder / rel for rel in relative if pattern.match(rel)]
    return files


def page_files(files: list[Path], page: int) -> list[Path]:
    """Files for one page: those whose basename contains `_pg<page>_`.

    Upstream QUIRK kept: for a stem that itself contains `_pg<N>_`-like text, other pages' files match too.
    """
    return [f for f in files if re.search(rf"_pg{page}_", f.name)]
