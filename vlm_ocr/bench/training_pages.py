"""An olmOCR-Bench folder as training pages: one item per (pdf, page) with all of its tests and reference Markdown.

The reinforcement stage learns from the page's own unit tests (`pdfs/`, test `*.jsonl`, optional
`claude_original/` Markdown with front matter, the layout of olmOCR's synthetic pages). Bad input never stops a
run half-way: a malformed test line, a test naming a PDF that is not there, an unreadable PDF, a page number past
the end of its PDF, a page without tests and an unreadable reference are each listed once in `skipped` (the
reference's page is kept, without a reference); only a folder that yields no page at all is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vlm_ocr.bench.checks import BenchTest
from vlm_ocr.bench.layout import BenchLayout, find_layout, page_numbers
from vlm_ocr.bench.loading import BenchDataError, iter_tests
from vlm_ocr.errors import InputError
from vlm_ocr.pages.front_matter import FrontMatterError, parse_page_markdown

REFERENCE_FOLDER = "claude_original"
_FOLDER_FIX = "give an olmOCR-Bench folder: pdfs/, *.jsonl test files, optionally claude_original/"


@dataclass(frozen=True)
class BenchPage:
    """One PDF page to learn from: its tests (all test files, in file order) and its reference answer."""

    pdf: str
    """The PDF's path relative to pdfs/, POSIX, as the tests name it."""
    page: int
    """1-based page number, as the tests give it."""
    pdf_path: Path
    tests: tuple[BenchTest, ...]
    reference: str | None = None
    """The reference Markdown (front matter + text) from claude_original/, or None."""

    @property
    def key(self) -> str:
        return f"{self.pdf}::{self.page}"


@dataclass(frozen=True)
class Skipped:
    """Input left out, with where it is (`file` or `file:line`) and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class BenchPages:
    root: Path
    pages: tuple[BenchPage, ...]
    skipped: tuple[Skipped, ...]


def reference_candidates(pdf: str, page: int) -> tuple[str, ...]:
    """Where claude_original/ keeps a page's reference, relative to it, in the order looked up.

    First the original's name (olmocr's GRPO dataset: `<stem>_pg1_repeat1.md` when the stem already holds
    `_page<N>`, as the synthetic pages' names do, else `<stem>_page<page>_pg1_repeat1.md`), then the benchmark's
    candidate name `<stem>_pg<page>_repeat1.md` (the same file for the synthetic pages).
    """
    folder, _, name = pdf.rpartition("/")
    prefix = f"{folder}/" if folder else ""
    stem = name.removesuffix(".pdf")
    if "_page" in stem:
        head, number, *_ = stem.split("_page")
        original = f"{head}_page{int(number) if number.isdecimal() else page}_pg1_repeat1.md"
    else:
        original = f"{stem}_page{page}_pg1_repeat1.md"
    return tuple(dict.fromkeys((prefix + original, f"{prefix}{stem}_pg{page}_repeat1.md")))


def read_bench_pages(bench_dir: str | Path) -> BenchPages:
    """Read a bench folder into training pages (sorted by PDF, then page) and the input it left out.

    Raises:
        InputError: the folder is missing, lacks pdfs/ or test files, or yields no page with tests.
    """
    try:
        layout = find_layout(Path(bench_dir))
    except FileNotFoundError as err:
        raise InputError(str(err), _FOLDER_FIX) from None
    if layout.single_file:
        raise InputError(f"{bench_dir} is a file", _FOLDER_FIX)
    skipped: list[Skipped] = []
    tests = _page_tests(layout, skipped)
    pages: list[BenchPage] = []
    counts: dict[str, int] = {}
    for pdf in layout.pdfs:
        try:
            numbers = page_numbers(layout, pdf)
        except BenchDataError as err:
            skipped.append(Skipped(f"pdfs/{pdf}", f"unreadable PDF, its tests left out ({err})"))
            continue
        counts[pdf] = len(numbers)
        for page in numbers:
            found = tests.pop((pdf, page), None)
            if not found:
                skipped.append(Skipped(f"pdfs/{pdf}", f"page {page} has no tests"))
                continue
            reference = _reference(layout.root, pdf, page, skipped)
            pages.append(BenchPage(pdf, page, layout.root / "pdfs" / pdf, tuple(found), reference))
    for (pdf, page), left in sorted(tests.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        if pdf in layout.pdfs and pdf not in counts:
            continue  # an unreadable PDF, listed once above
        reason = f"names pdfs/{pdf}, which does not exist"
        if pdf in counts:
            reason = f"page {page} is not a page of pdfs/{pdf} (1 to {counts[pdf]})"
        skipped.extend(Skipped(f"test {t.id!r}", reason) for t in left)
    if not pages:
        listed = "; ".join(str(s) for s in skipped[:3]) or "no tests"
        raise InputError(f"no page with tests in {layout.root} ({listed})", _FOLDER_FIX)
    return BenchPages(layout.root, tuple(pages), tuple(skipped))


def _page_tests(layout: BenchLayout, skipped: list[Skipped]) -> dict[tuple[str, int], list[BenchTest]]:
    """Every loadable test, grouped by (pdf, page); bad lines go to `skipped`."""
    grouped: dict[tuple[str, int], list[BenchTest]] = {}
    for path in layout.jsonl_files:
        for item in iter_tests(path):
            if isinstance(item, BenchDataError):
                where, _, reason = str(item).partition(": ")
                skipped.append(Skipped(where, reason))
            else:
                grouped.setdefault((item.pdf, item.page), []).append(item)
    return grouped


def _reference(root: Path, pdf: str, page: int, skipped: list[Skipped]) -> str | None:
    """The page's reference Markdown when claude_original/ holds a readable one (front matter checked)."""
    for relative in reference_candidates(pdf, page):
        path = root / REFERENCE_FOLDER / relative
        if not path.is_file():
            continue
        try:
            content = path.read_text(encoding="utf-8")
            parse_page_markdown(content, path)
        except (OSError, UnicodeDecodeError, FrontMatterError) as err:
            why = getattr(err, "reason", err)
            skipped.append(Skipped(str(path), f"unreadable reference, page kept without one ({why})"))
            return None
        return content
    return None
