"""Data pipeline throughput per worker: pages/s from the pair tree to model tensors, cold and with the render cache.

    python benchmarks/data_throughput.py --pages 24 --longest-side 1288

One process runs the recipe's steps (parse, filters, render, target, messages, chat template + image
processor) on the same pages three times: without a cache, while filling the render cache, and reading it.
pages/s of one process is pages/s per DataLoader worker; N workers give about N times that.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from vlm_ocr.data.dataset import PageDataset
from vlm_ocr.data.index import build_index
from vlm_ocr.data.processor import QwenInputs
from vlm_ocr.data.transforms import (
    BuildMessages,
    FilterRotated,
    FormatTarget,
    ParseFrontMatter,
    ReformatLatexBoldItalic,
    RenderPage,
    TextRuleFilter,
)
from vlm_ocr.model.families import QWEN2_5_VL
from vlm_ocr.prep.demo_pairs import generate_sample_data


def pages_per_second(records, render: RenderPage, inputs: QwenInputs) -> float:
    steps = [
        ParseFrontMatter(),
        FilterRotated(),
        ReformatLatexBoldItalic(),
        TextRuleFilter("off"),
        render,
        FormatTarget(),
        BuildMessages(),
        inputs,
    ]
    dataset = PageDataset("bench", records, steps)
    start = time.perf_counter()
    done = sum("dropped" not in dataset[i] for i in range(len(dataset)))
    return done / (time.perf_counter() - start)


def render_only(pdf_dir: Path, longest_side: int, cache: str) -> dict:
    """Render every page of real PDFs: pdfium each time vs reading the filled cache."""
    from vlm_ocr.pages.pdf import PdfError, page_count

    pages = []
    for pdf in sorted(pdf_dir.rglob("*.pdf")):
        try:
            pages.extend((str(pdf), i) for i in range(page_count(pdf)))
        except PdfError:
            continue
    timings = {}
    for label, step in (
        ("render", RenderPage(longest_side)),
        ("fill", RenderPage(longest_side, cache_dir=cache)),
        ("cached", RenderPage(longest_side, cache_dir=cache)),
    ):
        start = time.perf_counter()
        for pdf, page in pages:
            step.render(pdf, page)
        timings[label] = round(len(pages) / (time.perf_counter() - start), 2)
    return {"pages": len(pages), "pages_per_s": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--longest-side", type=int, default=1288)
    parser.add_argument("--pdf-dir", type=Path, default=None, help="real PDFs for a render-only comparison")
    args = parser.parse_args()
    inputs = QwenInputs(QWEN2_5_VL.build_processor(), max_length=16384, family=QWEN2_5_VL)
    with tempfile.TemporaryDirectory(prefix="vlm_ocr_data_bench_") as tmp:
        root = generate_sample_data(Path(tmp) / "data", train_per_kind=args.pages // 5 + 1, eval_per_kind=0)
        index = build_index(root / "train", workers=1)
        records = [p for p in index.pages if "rotated" not in p.markdown_path][: args.pages]
        cold = pages_per_second(records, RenderPage(args.longest_side), inputs)
        cache = str(Path(tmp) / "cache")
        filling = pages_per_second(records, RenderPage(args.longest_side, cache_dir=cache), inputs)
        warm = pages_per_second(records, RenderPage(args.longest_side, cache_dir=cache), inputs)
        real = render_only(args.pdf_dir, args.longest_side, str(Path(tmp) / "real")) if args.pdf_dir else None
    print(
        json.dumps(
            {
                "real_pdfs_render_only": real,
                "pages": len(records),
                "longest_side": args.longest_side,
                "pages_per_s_per_worker": {
                    "no_cache": round(cold, 2),
                    "filling_cache": round(filling, 2),
                    "cached": round(warm, 2),
                },
                "cached_over_no_cache": round(warm / cold, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
