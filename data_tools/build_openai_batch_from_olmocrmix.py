"""Every single-page PDF of a pair tree -> OpenAI batch request files (gpt-4.1, v3 prompt), 99 MiB each at most."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from vlm_ocr.errors import InputError
from vlm_ocr.pages.pdf import RenderSpec, page_count, render_page_png
from vlm_ocr.pages.prompts import build_openai_silver_data_prompt_v3_simple, openai_response_format_schema
from vlm_ocr.prep.batch_io import RolloverWriter, chat_request_line, format_custom_id, image_message
from vlm_ocr.prep.fs import list_files
from vlm_ocr.prep.input_paths import require_dir
from vlm_ocr.prep.runner import DEFAULT_RUN, Drop, RunArgs, map_items
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
TOOL = "build_openai_batch_from_olmocrmix"


def build_request(pdf: str, root: Path, model: str, max_completion_tokens: int, spec: RenderSpec) -> str:
    """One single-page PDF -> one request line whose custom_id is its exact relative path."""
    pages = page_count(pdf)
    if pages != 1:
        raise Drop("multi-page PDF" if pages > 1 else "PDF without pages")
    png, (width, height) = render_page_png(pdf, 0, spec)
    body = {
        "model": model,
        "messages": image_message(build_openai_silver_data_prompt_v3_simple(width, height), png),
        "temperature": 0.1,
        "max_completion_tokens": max_completion_tokens,
        "response_format": openai_response_format_schema(),
    }
    return chat_request_line(format_custom_id(Path(pdf).relative_to(root).as_posix()), body)


def main(
    input_dir: Path,
    *,
    output_dir: Path | None = None,
    max_pdfs: int | None = None,
    model: str = "gpt-4.1",
    max_completion_tokens: int = 12000,
    longest_side: int = 2048,
    run: RunArgs = DEFAULT_RUN,
) -> int:
    """Write `batch_requests_NNNN.jsonl` files asking a model to re-annotate every single-page PDF of a tree.

    Args:
        input_dir: Root of the pair tree (every `*.pdf` under it, sorted, hidden folders skipped).
        output_dir: Where request files go (default `<input_dir>/batch_requests`).
        max_pdfs: Keep only the first N PDFs in sorted path order.
        model: Model named in each request.
        max_completion_tokens: Completion-token cap of each request.
        longest_side: Longest side in pixels of the rendered page image.
        run: Common data-tool flags (`--run.workers` replaces the original `--num_workers`).
    """
    config = dict(locals())
    input_dir = require_dir(input_dir, "input_dir", "pass the root folder of an md/pdf pair tree").resolve()
    output_dir = (output_dir or input_dir / "batch_requests").expanduser().resolve()
    pdfs = [p for p in list_files(input_dir, ".pdf") if output_dir not in Path(p).parents]
    if not pdfs:
        raise InputError(f"input_dir {input_dir}: no PDF under it", "pass the root folder of an md/pdf pair tree")
    pdfs = pdfs[:max_pdfs] if max_pdfs is not None else pdfs
    writer = RolloverWriter(output_dir, "batch_requests_{:04d}.jsonl")
    build = partial(
        build_request,
        root=input_dir,
        model=model,
        max_completion_tokens=max_completion_tokens,
        spec=RenderSpec(longest_side=longest_side),
    )
    counts = map_items(
        build,
        pdfs,
        output_dir,
        run,
        tool=TOOL,
        pool="process",
        sink=writer,
        config=config,
        key=lambda pdf: format_custom_id(Path(pdf).relative_to(input_dir).as_posix()),
    )
    logger.info("%d request files in %s", len(writer.parts), output_dir)
    return 1 if counts.failed else 0


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
