"""The on-disk contract shared by data tools and training: a tree of <stem>.md + <stem>.pdf pairs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScannedPair:
    """A Markdown file found in a tree, with the stat of it and of its PDF (None when the PDF is missing)."""

    markdown_path: Path
    pdf_path: Path
    markdown_stat: FileStat
    pdf_stat: FileStat | None


def _walk(root: Path) -> Iterator[os.DirEntry]:
    """Yield the entries of `root` recursively with os.scandir (one stat call per file, cached by the OS)."""
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # hidden sidecars and caches such as .pdf_cache/
                if entry.is_dir(follow_symlinks=True):
                    stack.append(Path(entry.path))
                else:
                    yield entry


def scan_pairs(root: str | Path) -> list[ScannedPair]:
    """Every `*.md` under `root`, sorted by path, each with the `.pdf` beside it if there is one.

    PDFs reached through symlinks are followed (prepare tools link PDFs rather than copying them).
    """
    return scan_pair_tree(root)[0]


def scan_pair_tree(root: str | Path) -> tuple[list[ScannedPair], list[Path]]:
    """(scan_pairs(root), every `*.pdf` without a `.md` beside it, sorted): one walk of the tree."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data root is not a folder")
    markdown: dict[str, os.DirEntry] = {}
    pdfs: dict[str, os.DirEntry] = {}
    for entry in _walk(root):
        base, ext = os.path.splitext(entry.path)
        if ext == ".md":
            markdown[base] = entry
        elif ext == ".pdf":
            pdfs[base] = entry
    scanned = []
    for base in sorted(markdown):
        md_entry = markdown[base]
        md_stat = md_entry.stat()
        pdf_entry = pdfs.get(base)
        pdf_stat = None
        if pdf_entry is not None:
            try:
                stat = pdf_entry.stat()  # follows symlinks; a dangling link counts as missing
                pdf_stat = FileStat(stat.st_size, stat.st_mtime_ns)
            except FileNotFoundError:
                pdf_stat = None
        scanned.append(
            ScannedPair(
                markdown_path=Path(md_entry.path),
                pdf_path=Path(base + ".pdf"),
                markdown_stat=FileStat(md_stat.st_size, md_stat.st_mtime_ns),
                pdf_stat=pdf_stat,
            )
        )
    lone = sorted(Path(base + ".pdf") for base in pdfs if base not in markdown)
    return scanned, lone
