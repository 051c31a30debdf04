"""Synchronous model clean-up of existing pairs: page image + current Markdown -> cleaned Markdown with front matter."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from vlm_ocr.errors import InputError
from vlm_ocr.pages.front_matter import format_page_markdown
from vlm_ocr.pages.pairs import ScannedPair
from vlm_ocr.pages.pdf import RenderSpec, page_count, render_page_png
from vlm_ocr.prep.cleanup import RESPONSE_FORMAT, cleanup_messages, page_from_cleanup
from vlm_ocr.prep.openai_client import make_client
from vlm_ocr.prep.pair_inputs import scan_input_pairs
from vlm_ocr.prep.runner import Drop, Link, RunArgs, map_items
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
RUN = RunArgs(workers=10)
TOOL = "clean_olmocrmix"


def clean_pair(pair: ScannedPair, root: Path, client: Any, model: str, spec: RenderSpec) -> dict:
    """One pair -> pdf link, `.md.orig` link, `.json` sidecar, then the cleaned `.md` (written last)."""
    if page_count(pair.pdf_path) != 1:
        raise Drop("multi-page PDF")
    original = pair.markdown_path.read_text(encoding="utf-8")
    png, _ = render_page_png(pair.pdf_path, 0, spec)
    response = client.chat.completions.create(
        model=model,
        messages=cleanup_messages(original, png),
        response_format=RESPONSE_FORMAT,
        temperature=0.2,
        max_completion_tokens=16384,
    )
    choice = response.choices[0]
    if choice.message.refusal:
        raise ValueError(f"refused: {choice.message.refusal}")
    if choice.finish_reason == "length":
        raise ValueError("truncated (finish_reason=length)")
    data = json.loads(choice.message.content or "null")
    page = page_from_cleanup(data)
    stem = pair.markdown_path.relative_to(root).with_suffix("").as_posix()
    sidecar = {
        "original_md": str(pair.markdown_path),
        "original_pdf": str(pair.pdf_path),
        "model": model,
        "confidence_score": data["confidence_score"],
        "corrections_made": data["corrections_made"],
        "is_page_all_blank": page.natural_text is None,
        "pages_rendered": 1,
        **{k: v for k, v in asdict(page).items() if k != "natural_text"},
    }
    return {
        f"{stem}.pdf": Link(pair.pdf_path),
        f"{stem}.md.orig": Link(pair.markdown_path),
        f"{stem}.json": json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n",
        f"{stem}.md": format_page_markdown(page),
    }


def main(
    input_dir: Path,
    output_dir: Path,
    *,
    model: str = "gpt-4o-2024-08-06",
    seed: int = 42,
    max_documents: int | None = None,
    longest_side: int = 2048,
    run: RunArgs = RUN,
) -> int:
    """Clean every md/pdf pair of a tree with a chat model; the output tree mirrors the input.

    The API key comes only from the OPENAI_API_KEY environment variable (OPENAI_BASE_URL selects the server).
    Pairs whose cleaned `.md` exists are skipped (the original `--skip-existing`; `--run.overwrite` redoes them).

    Args:
        input_dir: Root of the pair tree to clean.
        output_dir: Root of the cleaned tree.
        model: Chat model.
        seed: Seed of the shuffle that picks `max_documents` pairs (from the sorted list: reproducible).
        max_documents: Keep the first N pairs after the shuffle.
        longest_side: Longest side in pixels of the page image sent to the model.
        run: Common data-tool flags (`--run.workers` replaces the original `--batch-size`).
    """
    config = dict(locals())
    input_dir, output_dir = input_dir.expanduser().resolve(), output_dir.expanduser().resolve()
    scanned, left_out = scan_input_pairs(input_dir, "input_dir")
    pairs = [pair for pair in scanned if pair.pdf_stat is not None]

    def key(pair: ScannedPair) -> str:
        return pair.markdown_path.relative_to(input_dir).as_posix()

    left_out |= {key(pair): "no PDF beside the Markdown" for pair in scanned if pair.pdf_stat is None}
    if not pairs:
        raise InputError(f"input_dir {input_dir}: no .md file has its .pdf beside it", "pass an md/pdf pair tree")
    random.Random(seed).shuffle(pairs)
    pairs = pairs[:max_documents] if max_documents is not None else pairs
    clean = partial(
        clean_pair, root=input_dir, client=make_client(), model=model, spec=RenderSpec(longest_side=longest_side)
    )
    counts = map_items(clean, pairs, output_dir, run, tool=TOOL, config=config, key=key, dropped=left_out)
    return 1 if counts.failed else 0


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
