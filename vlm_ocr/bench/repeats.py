"""Trailing n-gram repetition counts, used by the baseline test to catch generation loops."""

from __future__ import annotations

import re

_WHITESPACE = re.compile(r"\s+")


def trailing_ngram_repeats(text: str, max_ngram_size: int = 5) -> list[int]:
    """For n = 1..max_ngram_size, how many times the last n characters repeat back-to-back at the end.

    Whitespace runs are collapsed to one space first, without trimming, so a trailing newline becomes a
    final space (which usually defeats the check, as upstream).
    """
    text = _WHITESPACE.sub(" ", text)
    counts = [0] * max_ngram_size
    for size in range(1, max_ngram_size + 1):
        if len(text) < size:
            continue
        target = text[-size:]
        count = 0
        pos = len(text) - size
        while pos >= 0 and text[pos : pos + size] == target:
            count += 1
            pos -= size
        counts[size - 1] = count
    return counts
