"""Scores of generated page Markdown against the reference: text metrics, front-matter fields, stops, loops.

Text metrics compare the text bodies (front matter removed, stripped); the front matter is scored field by
field. Definitions, per page:

- cer: character edit distance (Levenshtein) / reference characters (torchmetrics `char_error_rate`).
- wer: word edit distance / reference words, words split on whitespace (torchmetrics `word_error_rate`).
- ned: character edit distance / max(prediction characters, reference characters), in [0, 1].
- bleu: BLEU-4 on whitespace tokens, no smoothing (torchmetrics `BLEUScore` defaults).
- With an empty reference, cer and wer are 0 for an empty prediction and 1 otherwise; two empty texts have
  ned 0 and bleu 1.
- front matter: each of the five fields is right or wrong; a prediction whose front matter does not parse
  (strictly, as training data is read) is a parse failure and wrong on every field.
- stopped: generation ended with the end-of-turn token (finish_reason `stop`), not at max_new_tokens.
- repetitive: the answer ends in a generation loop (`is_repetitive` gives the exact rule).

Per dataset (`DatasetScores.compute`): cer and wer are corpus rates (summed edits / summed reference
length, as torchmetrics' CharErrorRate/WordErrorRate accumulate), bleu is corpus BLEU (BLEUScore over all
pages), ned is the mean over pages; `<field>_accuracy` is the share of pages with that field right and
front_matter_accuracy their mean, front_matter_parse_failure_rate, stop_share (over pages with a known
finish_reason) and repetition_rate are shares of pages.

Edit distances are computed with rapidfuzz: the same numbers as torchmetrics (the tests check this), but
in C, where torchmetrics' pure-Python edit distance takes seconds per page of a few thousand characters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import Levenshtein
from torchmetrics.functional.text import bleu_score
from torchmetrics.text import BLEUScore

from vlm_ocr.pages.front_matter import FRONT_MATTER_KEYS, FrontMatterError, PageResponse, parse_page_markdown

_WHITESPACE = re.compile(r"\s+")


def read_markdown(markdown: str) -> tuple[PageResponse | None, str]:
    """Front matter (None when it does not parse) and the stripped text body of a page's Markdown.

    The body of an answer whose front matter does not parse is what follows a closing `---` line, or
    the whole answer when there is no front-matter block at all.
    """
    try:
        page = parse_page_markdown(markdown)
        return page, (page.natural_text or "").strip()
    except (FrontMatterError, ValueError, TypeError):
        pass
    text = markdown.lstrip("\ufeff").replace("\r\n", "\n")
    if text.startswith("---\n"):
        lines = text.split("\n")
        close = next((i for i in range(1, len(lines)) if lines[i].rstrip() == "---"), None)
        if close is not None:
            return None, "\n".join(lines[close + 1 :]).strip()
    return None, text.strip()


def _error_rate(edits: int, reference_length: int) -> float:
    if reference_length == 0:
        return 0.0 if edits == 0 else 1.0
    return edits / reference_length


def character_error_rate(prediction: str, reference: str) -> float:
    return _error_rate(Levenshtein.distance(prediction, reference), len(reference))


def word_error_rate(prediction: str, reference: str) -> float:
    words = reference.split()
    return _error_rate(Levenshtein.distance(prediction.split(), words), len(words))


def normalized_edit_distance(prediction: str, reference: str) -> float:
    longest = max(len(prediction), len(reference))
    return Levenshtein.distance(prediction, reference) / longest if longest else 0.0


def bleu(prediction: str, reference: str) -> float:
    if not prediction.split() and not reference.split():
        return 1.0
    return float(bleu_score([prediction], [[reference]]))


def front_matter_matches(prediction: PageResponse | None, reference: PageResponse) -> dict[str, bool]:
    """Field -> whether the prediction has the reference's value; an unreadable prediction is wrong on all."""
    return {
        key: prediction is not None and getattr(prediction, key) == getattr(reference, key) for key in FRONT_MATTER_KEYS
    }


def is_repetitive(text: str, max_period: int = 200, min_repeats: float = 4.0, min_chars: int = 100) -> bool:
    """Whether the text ends in a generation loop.

    With whitespace runs collapsed to one space (trailing whitespace kept as one space), the text is
    repetitive when it ends with a stretch that repeats with some period p <= max_period characters
    (every character equals the one p places later), at least min_repeats periods long and at least
    min_chars characters long. A partial last repeat counts (an answer cut at max_new_tokens ends mid-unit),
    and the period covers any loop unit: one token, a phrase, a line or a paragraph.

    Args:
        text: the generated text (front matter included or not).
        max_period: longest repeated unit looked for, in characters.
        min_repeats: how many periods the repeating stretch must span.
        min_chars: how long the repeating stretch must be, so short legitimate runs (`---`, `....`) pass.
    """
    text = _WHITESPACE.sub(" ", text).lstrip()
    n = len(text)
    for period in range(1, max_period + 1):
        span = max(math.ceil(min_repeats * period), min_chars)
        if span > n:
            break
        # A suffix of length `span` has period p iff it equals itself shifted by p.
        if text[n - span : n - period] == text[n - span + period :]:
            return True
    return False


@dataclass(frozen=True)
class PageScore:
    """The scores of one generated page."""

    cer: float
    wer: float
    ned: float
    bleu: float
    front_matter_parsed: bool
    """Whether the prediction's front matter parses."""
    fields: dict[str, bool]
    """Front-matter field -> correct; empty when the reference's own front matter does not parse."""
    repetitive: bool
    """Whether the prediction ends in a loop (`is_repetitive`)."""
    stopped: bool | None
    """Whether generation ended with the end-of-turn token (finish_reason `stop`); None when unknown."""

    @property
    def front_matter_accuracy(self) -> float | None:
        return sum(self.fields.values()) / len(self.fields) if self.fields else None

    def as_dict(self) -> dict[str, Any]:
        """Flat values for a table row."""
        row: dict[str, Any] = {"cer": self.cer, "wer": self.wer, "ned": self.ned, "bleu": self.bleu}
        row["front_matter_parsed"] = self.front_matter_parsed
        row["front_matter_accuracy"] = self.front_matter_accuracy
        row.update({f"{key}_correct": value for key, value in self.fields.items()})
        row.update(repetitive=self.repetitive, stopped=self.stopped)
        return row


def score_page(prediction: str, reference: str, finish_reason: str | None = None) -> PageScore:
    """Score one generated page (Markdown with front matter) against its reference Markdown."""
    predicted, predicted_text = read_markdown(prediction)
    expected, expected_text = read_markdown(reference)
    return PageScore(
        cer=character_error_rate(predicted_text, expected_text),
        wer=word_error_rate(predicted_text, expected_text),
        ned=normalized_edit_distance(predicted_text, expected_text),
        bleu=bleu(predicted_text, expected_text),
        front_matter_parsed=predicted is not None,
        fields=front_matter_matches(predicted, expected) if expected is not None else {},
        repetitive=is_repetitive(prediction),
        stopped=None if finish_reason is None else finish_reason == "stop",
    )


@dataclass
class DatasetScores:
    """Accumulates the pages of one dataset into the summary that is logged (see the module docstring)."""

    pages: int = 0
    char_edits: int = 0
    chars: int = 0
    word_edits: int = 0
    words: int = 0
    ned_sum: float = 0.0
    parse_failures: int = 0
    scored_fields: int = 0
    """Pages whose reference front matter parses (the denominator of the field accuracies)."""
    correct: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FRONT_MATTER_KEYS, 0))
    finished: int = 0
    """Pages whose finish_reason is known."""
    stopped: int = 0
    repetitive: int = 0
    corpus_bleu: BLEUScore = field(default_factory=BLEUScore)

    def update(self, prediction: str, reference: str, finish_reason: str | None = None) -> PageScore:
        score = score_page(prediction, reference, finish_reason)
        predicted_text, expected_text = read_markdown(prediction)[1], read_markdown(reference)[1]
        self.pages += 1
        self.char_edits += Levenshtein.distance(predicted_text, expected_text)
        self.chars += len(expected_text)
        self.word_edits += Levenshtein.distance(predicted_text.split(), expected_text.split())
        self.words += len(expected_text.split())
        self.ned_sum += score.ned
        self.parse_failures += not score.front_matter_parsed
        if score.fields:
            self.scored_fields += 1
            for key, ok in score.fields.items():
                self.correct[key] += ok
        if score.stopped is not None:
            self.finished += 1
            self.stopped += score.stopped
        self.repetitive += score.repetitive
        if predicted_text.split() or expected_text.split():
            self.corpus_bleu.update([predicted_text], [[expected_text]])
        return score

    def bleu(self) -> float:
        """Corpus BLEU; 1 when every page had an empty reference and an empty prediction, 0 when every prediction
        was empty but some reference was not (torchmetrics cannot compute BLEU without predicted words)."""
        if self.corpus_bleu.target_len == 0:
            return 1.0
        if self.corpus_bleu.preds_len == 0:
            return 0.0
        return float(self.corpus_bleu.compute())

    def compute(self) -> dict[str, float]:
        """Metric name -> value; metrics without any page to average over are left out."""
        if not self.pages:
            return {}
        out = {
            "cer": _error_rate(self.char_edits, self.chars),
            "wer": _error_rate(self.word_edits, self.words),
            "ned": self.ned_sum / self.pages,
            "bleu": self.bleu(),
            "front_matter_parse_failure_rate": self.parse_failures / self.pages,
            "repetition_rate": self.repetitive / self.pages,
        }
        if self.scored_fields:
            accuracies = {key: count / self.scored_fields for key, count in self.correct.items()}
            out["front_matter_accuracy"] = sum(accuracies.values()) / len(accuracies)
            out.update({f"{key}_accuracy": value for key, value in accuracies.items()})
        if self.finished:
            out["stop_share"] = self.stopped / self.finished
        return out
