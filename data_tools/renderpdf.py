"""Render PDF pages to PNG (or WebP) images in process with pypdfium2: rotation and crop box honoured, DPI bounded."""

from __future__ import annotations

import io
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

from vlm_ocr.errors import InputError
from vlm_ocr.pages.pdf import PdfError, RenderSpec, page_count, render_page
from vlm_ocr.prep import fs
from vlm_ocr.prep.runner import DEFAULT_RUN, RunArgs, map_items
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
TOOL = "renderpdf"


@dataclass(frozen=True)
class PageJob:
    """One page to render (1-based), or a PDF that could not be opened (`problem`)."""

    pdf: str
    rel: str
    page: int
    problem: str | None = None


def list_pdfs(source: str) -> list[str]:
    """A PDF file, a folder (recursive) or a glob; local or s3://. Finding none is an InputError."""
    fix = "pass a PDF, a folder of PDFs or a quoted glob (local or s3://)"
    if any(ch in source for ch in "*?["):
        pdfs = fs.glob_paths(source)
    elif not fs.is_remote(source) and not Path(source).exists():
        raise InputError(f"source {source}: no such file or folder", fix)
    else:
        pdfs = fs.list_files(source, ".pdf")
    if not pdfs:
        raise InputError(f"source {source}: no PDF found", fix)
    return pdfs


def iter_jobs(pdfs: list[str], root: str, pages: list[int] | None, cache_dir: Path) -> Iterator[PageJob]:
    for pdf in pdfs:
        rel = fs.relative_to(pdf, root) if root else Path(pdf).name
        try:
            total = page_count(fs.local_copy(pdf, cache_dir))
        except (PdfError, OSError) as err:
            yield PageJob(pdf, rel, 0, problem=str(err))
            continue
        for page in pages or range(1, total + 1):
            yield PageJob(pdf, rel, page, None if 1 <= page <= total else f"page {page} out of range ({total} pages)")


def output_name(job: PageJob, image_format: str) -> str:
    stem = job.rel[: -len(".pdf")] if job.rel.lower().endswith(".pdf") else job.rel
    return f"{stem}/page_{job.page:04d}.{image_format}"


def render(job: PageJob, spec: RenderSpec, image_format: str, cache_dir: Path) -> dict:
    """One page -> its image, then a small JSON sidecar with sizes (written last: it marks the page done)."""
    if job.problem:
        raise ValueError(job.problem)
    image = render_page(fs.local_copy(job.pdf, cache_dir), job.page - 1, spec)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP" if image_format == "webp" else "PNG")
    name = output_name(job, image_format)
    meta = {"pdf": job.pdf, "page": job.page, "width": image.width, "height": image.height}
    return {name: buffer.getvalue(), name.rsplit(".", 1)[0] + ".json": json.dumps(meta) + "\n"}


def main(
    source: str,
    out_dir: Path,
    *,
    pages: list[int] | None = None,
    longest_side: int = 2048,
    min_dpi: float = 36.0,
    max_dpi: float = 600.0,
    image_format: Literal["png", "webp"] = "png",
    run: RunArgs = DEFAULT_RUN,
) -> int:
    """Render pages to `<out_dir>/<pdf path without .pdf>/page_NNNN.png` (+ `.json` with the pixel size).

    Args:
        source: A PDF, a folder of PDFs (recursive), or a glob; local or `s3://`.
        out_dir: Output folder.
        pages: 1-based pages to render (default: all).
        longest_side: Target length in pixels of the image's longest side (2048 as for the OpenAI requests).
        min_dpi: Lower DPI bound (huge pages): the image may then exceed the target.
        max_dpi: Upper DPI bound (tiny pages): the image may then fall short of the target.
        image_format: `png` (lossless) or `webp` (lossy, smaller).
        run: Common data-tool flags.
    """
    config = dict(locals())
    pdfs = list_pdfs(source)
    root = "" if len(pdfs) == 1 else source if not any(ch in source for ch in "*?[") else _glob_root(source)
    spec = RenderSpec(longest_side=longest_side, page_box="crop", min_dpi=min_dpi, max_dpi=max_dpi)
    with tempfile.TemporaryDirectory(prefix="renderpdf-") as cache:
        counts = map_items(
            partial(render, spec=spec, image_format=image_format, cache_dir=Path(cache)),
            iter_jobs(pdfs, root, pages, Path(cache)),
            out_dir,
            run,
            tool=TOOL,
            pool="process",
            config=config,
            key=lambda job: output_name(job, image_format).rsplit(".", 1)[0] + ".json",
        )
    return 1 if counts.failed else 0


def _glob_root(pattern: str) -> str:
    literal = pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    return literal[: literal.rfind("/")] if "/" in literal else "."


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
