"""`python -m vlm_ocr cache-renders --config X.yaml`: render every train and eval page once into the render cache."""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from vlm_ocr.data.transforms import RenderPage
from vlm_ocr.errors import UsageError
from vlm_ocr.pages.pdf import PdfError

if TYPE_CHECKING:
    from vlm_ocr.data.interface import PageData

logger = logging.getLogger(__name__)


def _render(args: tuple[RenderPage, str]) -> str | None:
    step, pdf = args
    try:
        step.render(pdf)
    except PdfError as err:
        return str(err)
    return None


def cache_renders(experiment_args: list[str], *, workers: int = 2) -> int:
    """Render every page of the experiment's train and eval datasets once into RenderPage's cache_dir.

    Args:
        workers: render processes.
    """
    from vlm_ocr.experiment_cli import build_cli

    datamodule: PageData = build_cli(experiment_args, run=False).datamodule
    step = datamodule.pipeline.render
    if step is None or step.cache is None:
        raise UsageError("the config's RenderPage step has no cache_dir; set data.render.init_args.cache_dir")
    datamodule.setup("fit")
    pdfs = sorted(
        {
            page.pdf_path
            for dataset in [datamodule.train_set, *datamodule.eval_sets]
            for part in getattr(dataset, "parts", [dataset])
            for page in part.pages
        }
    )
    with ProcessPoolExecutor(max_workers=workers) as pool:
        errors = [e for e in pool.map(_render, [(step, pdf) for pdf in pdfs], chunksize=16) if e]
    for error in errors:
        logger.warning("not cached: %s", error)
    print(f"cached {len(pdfs) - len(errors)} pages in {step.cache.root} ({len(errors)} failed)")
    return 0
