"""The OpenAI client of the data tools, built inside main() from the environment, never at import."""

from __future__ import annotations

import os
from typing import Any

from vlm_ocr.errors import InputError


def make_client(max_retries: int = 2, timeout_s: float = 600.0, base_url: str | None = None) -> Any:
    """An `openai.OpenAI` client from OPENAI_API_KEY and `base_url` or, if set, OPENAI_BASE_URL (the key is never
    logged)."""
    import openai

    if not os.environ.get("OPENAI_API_KEY"):
        raise InputError("OPENAI_API_KEY is not set", "export OPENAI_API_KEY (and OPENAI_BASE_URL for another server)")
    return openai.OpenAI(max_retries=max_retries, timeout=timeout_s, base_url=base_url)
