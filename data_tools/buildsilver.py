"""Sample pages of a PDF collection (local glob, path list or s3://) -> OpenAI batch requests for silver labels."""

from __future__ import annotations

import logging
import random
import tempfile
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from vlm_ocr.errors import InputError
from vlm_ocr.pages.pdf import PdfError, RenderSpec, page_count, render_page_png
from vlm_ocr.pages.prompts import build_openai_silver_data_prompt, openai_response_format_schema
from vlm_ocr.prep import fs
from vlm_ocr.prep.anchor import anchor_text
from vlm_ocr.prep.batch_io import RolloverWriter, chat_request_line, format_custom_id, image_message
from vlm_ocr.prep.input_paths import require_file
from vlm_ocr.prep.pdf_filter import filter_reason
from vlm_ocr.prep.runner import DEFAULT_RUN, Drop, RunArgs, map_items
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
TOOL = "buildsilver"


def reservoir_sample(paths: Iterable[str], size: int, rng: random.Random) -> list[str]:
    """Algorithm R over a stream of paths, then shuffled."""
    reservoir: list[str] = []
    for n, path in enumerate(paths, 1):
        if len(reservoir) < size:
            reservoir.append(path)
        elif (slot := rng.randint(1, n)) <= size:
            reservoir[slot - 1] = path
    rng.shuffle(reservoir)
    return reservoir


def sample_pages(num_pages: int, first_n: int, max_pages: int, rng: random.Random) -> list[int]:
    """1-based pages: the first `first_n` always, then random others up to `max_pages` in all."""
    if num_pages <= first_n:
        return list(range(1, num_pages + 1))
    rest = list(range(first_n + 1, num_pages + 1))
    return list(range(1, first_n + 1)) + rng.sample(rest, min(max_pages - first_n, len(rest)))


def build_requests(
    path: str, root: str, seed: int, first_n: int, max_pages: int, use_filter: bool, model: str
) -> list[str]:
    """One PDF -> request lines for its sampled pages (a page that fails is logged and left out)."""
    rel = fs.relative_to(path, root)
    with tempfile.TemporaryDirectory(prefix="buildsilver-") as tmp:
        local = fs.local_copy(path, tmp)
        if use_filter and (reason := filter_reason(local)):
            raise Drop(f"filtered: {reason}")
        pages = sample_pages(page_count(local), first_n, max_pages, random.Random(f"{seed}:{rel}"))
        lines = []
        for page in pages:
            try:
                png, _ = render_page_png(local, page - 1, RenderSpec(longest_side=2048))
                prompt = build_openai_silver_data_prompt(anchor_text(local, page - 1))
            except PdfError as err:
                logger.warning("%s page %d: %s", path, page, err.reason)
                continue
            body = {
                "model": model,
                "messages": image_message(prompt, png),
                "temperature": 0.1,
                "max_tokens": 6000,
                "logprobs": True,
                "top_logprobs": 5,
                "response_format": openai_response_format_schema(),
            }
            lines.append(chat_request_line(format_custom_id(rel, page), body))
    if not lines:
        raise Drop("no pages")
    return lines


def candidate_pdfs(glob_path: str | None, path_list: Path | None) -> list[str]:
    """The PDFs a run samples from; none at all is an InputError (a run with nothing to do fails)."""
    if glob_path:
        candidates = fs.glob_paths(glob_path)
        if not candidates:
            raise InputError(f"--glob_path {glob_path}: matches no file", "check the pattern, and quote it")
    elif path_list:
        text = require_file(path_list, "--path_list", "pass a text file with one PDF path per line").read_text("utf-8")
        candidates = [line.strip() for line in text.splitlines() if line.strip()]
        if not candidates:
            raise InputError(f"--path_list {path_list}: lists no path", "put one PDF path per line")
    else:
        raise InputError("no input PDFs", "pass --glob_path 'dir/**/*.pdf' or --path_list FILE")
    return candidates


def main(
    *,
    glob_path: str | None = None,
    path_list: Path | None = None,
    no_filter: bool = False,
    num_sample_docs: int = 5000,
    first_n_pages: int = 0,
    max_sample_pages: int = 15,
    output: Path = Path("openai_batch_data"),
    reservoir_size: int | None = None,
    seed: int = 0,
    model: str = "gpt-4o-2024-08-06",
    run: RunArgs = DEFAULT_RUN,
) -> int:
    """Write `output_N.jsonl` batch request files (anchored silver prompt + 2048 px page image) for sampled pages.

    custom_ids are `<path relative to the PDFs' common folder>#page=<n>`; pass that folder (logged, and kept
    in `_meta.json`) to process_openai_batch_results as `original_pdf_dir`.

    Args:
        glob_path: Local glob (`**` allowed) or `s3://bucket/prefix/*.pdf` (the pattern is honoured).
        path_list: Text file with one PDF path per line (blank lines ignored), used when glob_path is absent.
        no_filter: Keep every PDF (no form / readability / language / spam filter); `--no_filter` alone means true.
        num_sample_docs: Stop once this many PDFs produced at least one request.
        first_n_pages: Always include pages 1..N.
        max_sample_pages: Most pages sampled per PDF.
        output: Output folder.
        reservoir_size: Paths kept by reservoir sampling (default 10 x num_sample_docs).
        seed: Seed of the path and page sampling (runs are reproducible and resumable).
        model: Model named in each request.
        run: Common data-tool flags.
    """
    if max_sample_pages < first_n_pages:
        raise InputError(
            f"--max_sample_pages {max_sample_pages} is below --first_n_pages {first_n_pages}",
            "raise --max_sample_pages or lower --first_n_pages",
        )
    candidates = candidate_pdfs(glob_path, path_list)
    rng = random.Random(seed)
    paths = reservoir_sample(candidates, reservoir_size or 10 * num_sample_docs, rng)
    root = fs.common_root(paths)
    logger.info("%d candidate PDFs, %d sampled; custom_ids are relative to %s", len(candidates), len(paths), root)
    config = {k: v for k, v in locals().items() if k in main.__annotations__} | {"pdf_root": root}
    writer = RolloverWriter(output, "output_{}.jsonl", key_of=lambda custom_id: custom_id.split("#page=")[0])
    build = partial(
        build_requests,
        root=root,
        seed=seed,
        first_n=first_n_pages,
        max_pages=max_sample_pages,
        use_filter=not no_filter,
        model=model,
    )
    counts = map_items(
        build,
        paths,
        output,
        run,
        tool=TOOL,
        pool="process",
        sink=writer,
        stop_after=num_sample_docs,
        key=lambda path: fs.relative_to(path, root),
        config=config,
    )
    return 1 if counts.failed else 0


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
