"""Content-addressed cache of rendered pages: key = hash of the PDF bytes and the render settings."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from vlm_ocr.pages.files import atomic_write_bytes
from vlm_ocr.pages.pdf import RenderSpec, render_page


class RenderCache:
    """Rendered pages stored as lossless PNG under `root/<2 hex>/<sha256>.png`.

    The key covers the PDF's bytes (not its path or mtime), the page and every render setting, so a cache
    can be shared between runs, datasets and machines, and an edited PDF never returns a stale image.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def key(self, pdf_path: str | Path, page_index: int, spec: RenderSpec) -> str:
        digest = hashlib.sha256(Path(pdf_path).read_bytes())
        digest.update(f"|page={page_index}|{spec!r}".encode())  # every RenderSpec field
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.png"

    def render(self, pdf_path: str | Path, page_index: int, spec: RenderSpec) -> Image.Image:
        """The cached image, or render, store and return it (a corrupt entry is rendered again)."""
        path = self.path(self.key(pdf_path, page_index, spec))
        if path.is_file():
            try:
                with Image.open(path) as cached:
                    return cached.convert("RGB")
            except OSError:
                pass  # a damaged entry: render it again below
        image = render_page(pdf_path, page_index, spec)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        atomic_write_bytes(path, buffer.getvalue())
        return image
