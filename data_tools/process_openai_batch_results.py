"""Downloaded OpenAI batch results + the original PDFs -> an md/pdf pair tree mirroring the original layout."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from vlm_ocr.errors import InputError
from vlm_ocr.pages.front_matter import format_page_markdown
from vlm_ocr.prep import fs
from vlm_ocr.prep.batch_io import BatchResult, PageRef, iter_lines, parse_custom_id, parse_result_line
from vlm_ocr.prep.input_paths import require_dir
from vlm_ocr.prep.runner import RunArgs, map_items
from vlm_ocr.prep.single_pages import extract_page
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
RUN = RunArgs(workers=8)
TOOL = "process_openai_batch_results"


def read_results(results_dir: Path) -> Iterator[BatchResult]:
    """Result lines of the `*.jsonl`/`*.json` files directly in `results_dir`, streamed in sorted order.

    The first success of each custom_id is yielded; an error line only when that custom_id has no success
    anywhere (an expired batch's errors are superseded by its requeued requests' results).
    """
    files = sorted(p for p in results_dir.iterdir() if p.suffix in (".jsonl", ".json") and not p.name.startswith("_"))
    succeeded = {r.custom_id for r in _parse(files) if r.error is None}
    seen: set[str] = set()
    for result in _parse(files):
        if result.custom_id in seen or (result.error is not None and result.custom_id in succeeded):
            continue
        seen.add(result.custom_id)
        yield result


def _parse(files: list[Path]) -> Iterator[BatchResult]:
    for path in files:
        for number, line in enumerate(iter_lines(path), 1):
            try:
                yield parse_result_line(line)
            except ValueError as err:
                yield BatchResult(f"{path.name}:{number}", None, f"undecodable line: {err}")


def locate(result: BatchResult, pdf_root: str, cache_dir: Path) -> tuple[PageRef, Path]:
    """The first candidate source PDF of a custom_id that exists (remote roots are fetched into the cache)."""
    candidates = parse_custom_id(result.custom_id)
    for ref in candidates:
        source = fs.join(pdf_root, ref.pdf)
        if fs.exists(source):
            return ref, fs.local_copy(source, cache_dir)
    raise FileNotFoundError(f"no source PDF for {result.custom_id!r} (tried {', '.join(r.pdf for r in candidates)})")


def output_stem(result: BatchResult) -> str:
    return parse_custom_id(result.custom_id)[0].output_stem


def convert(result: BatchResult, pdf_root: str, cache_dir: Path) -> dict:
    """One result -> `<stem>.pdf` (the page's own one-page PDF) then `<stem>.md` (front matter + text)."""
    if result.error is not None:
        raise ValueError(result.error)
    ref, source = locate(result, pdf_root, cache_dir)
    pdf = source.read_bytes() if ref.page is None else extract_page(source, ref.page - 1)
    stem = output_stem(result)  # a legacy id found through its fallback keeps the id's own name
    return {f"{stem}.pdf": pdf, f"{stem}.md": format_page_markdown(result.page)}


def main(batch_results_dir: Path, original_pdf_dir: str, output_dir: Path, *, run: RunArgs = RUN) -> int:
    """Turn batch outputs into md/pdf pairs; failed, refused, truncated or invalid results go to errors.jsonl.

    Reads custom_ids of both builders (`sub/a.pdf`, `sub/doc.pdf#page=3`) and the original's legacy ids
    (`sub/a`, `.pdf`-stripped). A page of a multi-page PDF becomes `sub/doc_page3.pdf` + `.md`.
    When a custom_id has several results, its first success wins.

    Args:
        batch_results_dir: Folder of downloaded batch output files (`runopenaibatch`'s `<folder>_done`).
        original_pdf_dir: Root the custom_ids are relative to (local folder or `s3://bucket/prefix`).
        output_dir: Root of the new pair tree.
        run: Common data-tool flags (`--run.workers` replaces the original `--num_workers`).
    """
    config = dict(locals())
    batch_results_dir = require_dir(batch_results_dir, "batch_results_dir", "pass runopenaibatch's <folder>_done")
    batch_results_dir = batch_results_dir.resolve()
    if not fs.is_remote(original_pdf_dir):
        fix = "pass the folder (or s3:// prefix) the requests were built from (buildsilver's _meta.json: pdf_root)"
        original_pdf_dir = str(require_dir(original_pdf_dir, "original_pdf_dir", fix).resolve())
    if not any(p.suffix in (".jsonl", ".json") and not p.name.startswith("_") for p in batch_results_dir.iterdir()):
        raise InputError(
            f"batch_results_dir {batch_results_dir}: no result files (*.jsonl)",
            "pass the folder runopenaibatch downloaded the results into (<folder>_done)",
        )
    convert_one = partial(convert, pdf_root=original_pdf_dir, cache_dir=output_dir / ".pdf_cache")
    counts = map_items(
        convert_one,
        read_results(batch_results_dir),
        output_dir,
        run,
        tool=TOOL,
        config=config,
        key=lambda result: f"{output_stem(result)}.md",
    )
    return 1 if counts.failed else 0


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
