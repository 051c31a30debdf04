"""olmOCR-Bench text normalisation, applied to test strings and candidate Markdown before fuzzy matching."""

from __future__ import annotations

import re
import unicodedata

_BR = re.compile(r"<br/?>")
_BOLD_STARS = re.compile(r"\*\*(.*?)\*\*")
_BOLD_UNDERSCORES = re.compile(r"__(.*?)__")
_B_TAG = re.compile(r"</?b>")
_I_TAG = re.compile(r"</?i>")
_PAIRED_DOUBLE = re.compile(r"(\*\*|__)(.*?)\1")
_PAIRED_SINGLE = re.compile(r"(\*|_)(.*?)\1")
_WHITESPACE = re.compile(r"\s+")

_REPLACEMENTS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\uff3f": "_",
        "\u2013": "-",
        "\u2014": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2212": "-",
        "\u00b5": "\u03bc",
    }
)


def normalize_text(text: str | None) -> str | None:
    """Normalise text exactly as olmOCR-Bench does (spec §2); the result is deliberately not trimmed."""
    if text is None:
        return None
    text = _BR.sub(" ", text)
    text = _BOLD_STARS.sub(r"\1", text)
    text = _BOLD_UNDERSCORES.sub(r"\1", text)
    text = _B_TAG.sub("", text)
    text = _I_TAG.sub("", text)
    text = _PAIRED_DOUBLE.sub(r"\2", text)
    # Quirk kept on purpose: this also strips non-formatting pairs (foo_bar_baz -> foobarbaz).
    text = _PAIRED_SINGLE.sub(r"\2", text)
    text = _WHITESPACE.sub(" ", text)
    text = unicodedata.normalize("NFC", text)
    return text.translate(_REPLACEMENTS)
