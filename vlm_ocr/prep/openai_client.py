"""The OpenAI client of the data tools, built inside main() from the environment, never at import."""

from __future__ import annotations

import os
from typing import Any


def make_client(max_retries: int = 2, timeout_s: float = 600.0) -> Any:
    """An `openai.OpenAI` client from OPENAI_API_KEY and, if set, OPENAI_BASE_URL (the key is never logged)."""
    import openai

    if not os.environ.get("OPENAI_API_KEY"):
        raise SystemExit("OPENAI_API_KEY is not set")
    return openai.OpenAI(max_retries=max_retries, timeout=timeout_s)
