"""Render throughput: in-process pypdfium2 (vlm_ocr.pages.pdf) vs a pdftoppm subprocess per page, same pages, same size.

Run: `python benchmarks/render_throughput.py [--pdf_dir DIR] [--longest_side 2048] [--max_pages 24]`.
Both sides produce a PNG of the same page at the same DPI (the DPI vlm_ocr computes, bounds included),
one page at a time on one core, as the original renderpdf did (`pdftoppm -png -f N -l N -r DPI`).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vlm_ocr.pages.pdf import POINTS_PER_INCH, RenderSpec, open_pdf, render_page_png, render_scale  # noqa: E402

DEFAULT_PDFS = REPO.parent / "shared" / "fixtures" / "pdfs"


def collect_pages(pdf_dir: Path, max_pages: int, per_pdf: int) -> list[tuple[Path, int, float]]:
    """(pdf, 0-based page, dpi) for up to `per_pdf` pages of each readable PDF, sorted, at most `max_pages`."""
    pages = []
    for pdf in sorted(pdf_dir.glob("*.pdf")):
        try:
            doc = open_pdf(pdf)
        except ValueError:
            continue
        try:
            for index in range(min(per_pdf, len(doc))):
                width, height = doc[index].get_size()
                pages.append((pdf, index, render_scale(width, height, SPEC) * POINTS_PER_INCH))
        finally:
            doc.close()
    return pages[:max_pages]


def pdfium_png(pdf: Path, index: int, dpi: float) -> bytes:
    return render_page_png(pdf, index, SPEC)[0]


def pdftoppm_png(pdf: Path, index: int, dpi: float) -> bytes:
    result = subprocess.run(
        ["pdftoppm", "-png", "-f", str(index + 1), "-l", str(index + 1), "-r", f"{dpi}", str(pdf)],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout


def measure(render, pages) -> tuple[float, list[tuple[int, int]]]:
    render(*pages[0])  # warm-up (imports, caches)
    sizes = []
    start = time.perf_counter()
    for page in pages:
        sizes.append(Image.open(io.BytesIO(render(*page))).size)
    return len(pages) / (time.perf_counter() - start), sizes


def main(pdf_dir: Path = DEFAULT_PDFS, longest_side: int = 2048, max_pages: int = 24, per_pdf: int = 3) -> int:
    """Compare render pages/s of the in-process renderer and a pdftoppm subprocess.

    Args:
        pdf_dir: Folder of PDFs (default: the shared real-world fixtures).
        longest_side: Target longest side in pixels (2048 as for the OpenAI requests).
        max_pages: Pages measured.
        per_pdf: Pages taken from each PDF.
    """
    global SPEC
    SPEC = RenderSpec(longest_side=longest_side)
    if not pdf_dir.is_dir():
        print(f"no PDF folder at {pdf_dir}; pass --pdf_dir")
        return 2
    pages = collect_pages(pdf_dir, max_pages, per_pdf)
    print(f"{len(pages)} pages from {pdf_dir}, longest side {longest_side} px, PNG, one page at a time, 1 core")
    fast, fast_sizes = measure(pdfium_png, pages)
    print(f"in-process pypdfium2 : {fast:7.2f} pages/s")
    if shutil.which("pdftoppm") is None:
        print(
            "pdftoppm: NOT FOUND on PATH -- install poppler-utils (apt-get install -y poppler-utils) for the comparison"
        )
        return 3
    slow, slow_sizes = measure(pdftoppm_png, pages)
    worst = max(max(abs(a - c), abs(b - d)) for (a, b), (c, d) in zip(fast_sizes, slow_sizes, strict=True))
    print(f"pdftoppm subprocess  : {slow:7.2f} pages/s")
    print(f"speed-up             : {fast / slow:7.2f}x (target >= 2x); image sizes agree within {worst} px")
    return 0


SPEC = RenderSpec()

if __name__ == "__main__":
    from jsonargparse import auto_cli

    raise SystemExit(auto_cli(main))
