"""Which sampled PDFs are worth silver labels: drop forms, unreadable files, non-English text and download spam."""

from __future__ import annotations

import re
from pathlib import Path

import pdfplumber

SPAM_WORDS = frozenset("download pdf epub mobi free ebook file save casino viagra cialis ciprofloxacin".split())
# A light stand-in for a language model: common English function words make up a large share of any
# English prose (~40 %), and almost none of other languages.
ENGLISH_WORDS = frozenset(
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have "
    "an they you were her she there been one all we their has would when if so no will can more its".split()
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def filter_reason(
    path: str | Path, *, max_pages: int = 5, min_english_share: float = 0.08, max_spam_share: float = 0.004
) -> str | None:
    """Why the PDF should be left out, or None to keep it.

    Dropped: PDFs with AcroForm fields, PDFs whose first pages cannot be read, text that is not English,
    download spam. Kept: short or mostly non-alphabetic text (scans, figures), since it cannot be judged.
    """
    try:
        with pdfplumber.open(path) as pdf:
            form = pdf.doc.catalog.get("AcroForm")
            if form is not None and _resolve(_resolve(form).get("Fields")):
                return "form"
            text = "\n".join(page.extract_text(x_tolerance=1) or "" for page in pdf.pages[:max_pages])
    except Exception:  # noqa: BLE001 - pdfminer raises many unrelated types for broken files
        return "unreadable"
    alpha = sum(ch.isalpha() for ch in text)
    if len(text) < 200 or alpha < 0.5 * len(text):
        return None
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return None
    if sum(w in ENGLISH_WORDS for w in words) / len(words) < min_english_share:
        return "not English"
    if sum(w in SPAM_WORDS for w in words) / len(words) > max_spam_share:
        return "download spam"
    return None


def _resolve(obj):
    return obj.resolve() if hasattr(obj, "resolve") else obj
