"""Shared steps of the archive-transcription tools (LoC, NARA): image URL -> one-page PDF, transcription -> Markdown."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlparse

from vlm_ocr.pages.front_matter import PageResponse, format_page_markdown
from vlm_ocr.prep.fetch import RetryPolicy, download
from vlm_ocr.prep.single_pages import image_to_pdf

DEFAULT_MAX_DOWNLOAD_MB = 200


def image_pdf(url: str, policy: RetryPolicy, max_bytes: int) -> bytes:
    """Download an image (streamed to a temporary file, size-capped, retried) and wrap it as a one-page PDF."""
    suffix = Path(urlparse(url).path).suffix or ".img"  # the path's suffix: a query string cannot pollute it
    with tempfile.TemporaryDirectory(prefix="transcript-") as tmp:
        dest = Path(tmp) / f"image{suffix}"
        download(url, dest, max_bytes=max_bytes, policy=policy)
        return image_to_pdf(dest.read_bytes())


def transcript_markdown(text: str, front_matter: bool, language: str | None) -> str:
    """The transcription as the pair's Markdown: with front matter (trainable, cleanable) or raw."""
    if not front_matter:
        return text
    page = PageResponse(language or None, True, 0, False, False, text.strip() or None)
    return format_page_markdown(page)
