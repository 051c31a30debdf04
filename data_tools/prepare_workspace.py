"""An olmOCR pipeline workspace (Dolma JSONL under results/, local or s3://) -> one md/pdf pair per page."""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from vlm_ocr.errors import InputError
from vlm_ocr.pages.front_matter import PageResponse, format_page_markdown
from vlm_ocr.prep import fs
from vlm_ocr.prep.runner import DEFAULT_RUN, Drop, RunArgs, map_items
from vlm_ocr.prep.single_pages import extract_page
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
TOOL = "prepare_workspace"
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]+")
_DEFAULTS = {
    "primary_language": None,
    "is_rotation_valid": True,
    "rotation_correction": 0,
    "is_table": False,
    "is_diagram": False,
}


@dataclass(frozen=True)
class PageTask:
    """One page to write, or a problem found while reading its document (`problem`, raised or dropped later)."""

    stem: str
    page: int = 0
    text: str = ""
    source: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    drop: bool = False


def iter_pages(results: list[str], max_docs: int | None, keep_fallback: bool) -> Iterator[PageTask]:
    """Pages of every document in read order; at most `max_docs` documents."""
    seen: set[str] = set()
    docs = 0
    for path in results:
        for number, line in enumerate(fs.iter_lines(path), 1):
            if max_docs is not None and docs >= max_docs:
                return
            where = f"{Path(path).name}:{number}"
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                doc_id, source = str(doc["id"]), doc["metadata"]["Source-File"]
                spans = doc["attributes"]["pdf_page_numbers"]
            except (ValueError, KeyError, TypeError) as err:
                yield PageTask(where, problem=f"not a Dolma document with Source-File and page spans: {err!r}")
                continue
            docs += 1
            if not _SAFE_ID.fullmatch(doc_id):
                yield PageTask(where, problem=f"unsafe document id {doc_id!r}")
                continue
            folder = doc_id[:4] if len(doc_id) >= 4 else "misc"
            if doc_id in seen or (not keep_fallback and int(doc["metadata"].get("total-fallback-pages") or 0) > 0):
                reason = "duplicate document id (identical text)" if doc_id in seen else "document has fallback pages"
                yield PageTask(f"{folder}/{doc_id}", problem=reason, drop=True)
                continue
            seen.add(doc_id)
            for index, (start, end, page) in enumerate(spans):
                lists = {k: v for k, v in doc["attributes"].items() if k in _DEFAULTS and isinstance(v, list)}
                attrs = {k: v[index] for k, v in lists.items() if index < len(v)}
                yield PageTask(f"{folder}/{doc_id}_page{page}", int(page), doc["text"][start:end], source, attrs)


def convert(task: PageTask, cache_dir: Path) -> dict:
    """One page -> `<id>_page<N>.pdf` (that page alone) then `<id>_page<N>.md`."""
    if task.problem:
        raise Drop(task.problem) if task.drop else ValueError(task.problem)
    if "::" in task.source or ("://" in task.source and not fs.is_s3(task.source)):
        raise ValueError(f"unsupported source {task.source!r} (local paths and s3:// are supported)")
    values = {k: default if task.attrs.get(k) is None else task.attrs[k] for k, default in _DEFAULTS.items()}
    page = PageResponse(**values, natural_text=task.text.strip() or None)
    pdf = extract_page(fs.local_copy(task.source, cache_dir), task.page - 1)
    return {f"{task.stem}.pdf": pdf, f"{task.stem}.md": format_page_markdown(page)}


def main(
    workspace_path: str,
    output_dir: Path,
    *,
    max_examples: int | None = None,
    keep_fallback_docs: bool = False,
    run: RunArgs = DEFAULT_RUN,
) -> int:
    """Split pipeline output into single-page training pairs `<id[:4]>/<id>_page<N>.{pdf,md}`.

    Args:
        workspace_path: Workspace folder or `s3://bucket/prefix` (its `results/*.jsonl` are read).
        output_dir: Root of the pair tree (remote source PDFs are cached in `.pdf_cache/`, removed at the end).
        max_examples: Number of DOCUMENTS to read (first N in read order).
        keep_fallback_docs: Keep documents where the pipeline fell back to plain text extraction for some page
            (by default they are dropped: their fallback pages are not model output).
        run: Common data-tool flags (logging level: VLM_OCR_LOG_LEVEL=DEBUG replaces the original `--debug`).
    """
    config = dict(locals())
    results_dir = fs.join(workspace_path, "results")
    try:
        results = fs.list_files(results_dir, ".jsonl", recursive=False)
    except FileNotFoundError:
        results = []
    if not results:
        raise InputError(f"workspace_path {workspace_path}: no results/*.jsonl", "pass an olmOCR pipeline workspace")
    cache_dir = output_dir / ".pdf_cache"
    counts = map_items(
        partial(convert, cache_dir=cache_dir),
        iter_pages(results, max_examples, keep_fallback_docs),
        output_dir,
        run,
        tool=TOOL,
        key=lambda task: f"{task.stem}.md",
        config=config,
    )
    shutil.rmtree(cache_dir, ignore_errors=True)
    return 1 if counts.failed else 0


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
