"""olmOCR-Bench test types on plain text: the shared base, present/absent, order, baseline, format and footnote."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fuzzysearch import find_near_matches
from rapidfuzz import fuzz

from vlm_ocr.bench.normalize import normalize_text
from vlm_ocr.bench.repeats import trailing_ngram_repeats

if TYPE_CHECKING:
    from vlm_ocr.katex.equation import EquationRenderer

TEST_TYPES = ("baseline", "present", "absent", "order", "table", "math", "format", "footnote")
Verdict = tuple[bool, str]  # (passed, explanation when it failed)


class ValidationError(ValueError):
    """A test definition is invalid."""


def diff_threshold(max_diffs: int, target: str) -> float:
    """1 - max_diffs / len(target), with an empty target counted as length 1."""
    return 1.0 - max_diffs / (len(target) or 1)


def _normalized_nonblank(value: str, field_name: str) -> str:
    normalized = normalize_text(value)
    if not normalized.strip():
        raise ValidationError(f"{field_name} cannot be empty")
    return normalized


@dataclass(kw_only=True)
class BenchTest:
    """Fields common to every test; `run` checks one candidate page (the text of one .md file).

    Unknown JSON keys are rejected by the dataclass constructor (TypeError), as upstream.
    """

    pdf: str
    page: int
    id: str
    type: str
    max_diffs: int = 0
    checked: str | None = None
    """Either "verified" or "rejected" in the data; never read by the scorer (rejected tests still count)."""
    url: str | None = None

    allowed_types: ClassVar[tuple[str, ...]] = TEST_TYPES
    needs_renderer: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not self.pdf:
            raise ValidationError("pdf cannot be empty")
        if not self.id:
            raise ValidationError("id cannot be empty")
        if not isinstance(self.max_diffs, int) or self.max_diffs < 0:
            raise ValidationError("max_diffs must be an integer >= 0")
        if self.type not in self.allowed_types:
            raise ValidationError(f"invalid type {self.type!r} for {type(self).__name__}")

    def run(self, content: str, renderer: EquationRenderer | None = None) -> Verdict:
        raise NotImplementedError

    def render_requests(self, content: str) -> list[str]:
        """LaTeX strings `run` will render for this content (lets the runner batch browser work)."""
        return []


@dataclass(kw_only=True)
class PresenceTest(BenchTest):
    """`present`/`absent`: fuzzy substring search of `text` in the (optionally windowed) page."""

    text: str
    case_sensitive: bool = True
    first_n: int | None = None
    last_n: int | None = None

    allowed_types: ClassVar[tuple[str, ...]] = ("present", "absent")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.text = _normalized_nonblank(self.text, "text")

    def run(self, content: str, renderer: EquationRenderer | None = None) -> Verdict:
        query, content = self.text, normalize_text(content)
        if not self.case_sensitive:
            query, content = query.lower(), content.lower()
        if self.first_n and self.last_n:
            content = content[: self.first_n] + content[-self.last_n :]  # may overlap, as upstream
        elif self.first_n:
            content = content[: self.first_n]
        elif self.last_n:
            content = content[-self.last_n :]
        threshold = diff_threshold(self.max_diffs, query)
        # partial_ratio uses the shorter string as the needle: a window shorter than the query and
        # contained in it scores 100 (a spec QUIRK kept on purpose).
        score = fuzz.partial_ratio(query, content) / 100.0
        found = score >= threshold
        if found == (self.type == "present"):
            return True, ""
        expectation = "" if self.type == "present" else "absence of "
        return False, f"expected {expectation}{query[:40]!r} (threshold {threshold:.3f}), best match ratio {score:.3f}"


@dataclass(kw_only=True)
class OrderTest(BenchTest):
    """`order`: some approximate match of `before` starts strictly earlier than some match of `after`."""

    before: str
    after: str

    allowed_types: ClassVar[tuple[str, ...]] = ("order",)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.before = _normalized_nonblank(self.before, "before")
        self.after = _normalized_nonblank(self.after, "after")
        if self.max_diffs > len(self.before) // 2 or self.max_diffs > len(self.after) // 2:
            raise ValidationError("Max diffs is too large for this test, greater than 50% of the search string")

    def run(self, content: str, renderer: EquationRenderer | None = None) -> Verdict:
        content = normalize_text(content)
        before = find_near_matches(self.before, content, max_l_dist=self.max_diffs)
        if not before:
            return False, f"'before' text {self.before[:40]!r} not found (max_l_dist {self.max_diffs})"
        after = find_near_matches(self.after, content, max_l_dist=self.max_diffs)
        if not after:
            return False, f"'after' text {self.after[:40]!r} not found (max_l_dist {self.max_diffs})"
        if min(m.start for m in before) < max(m.start for m in after):
            return True, ""
        return False, f"{self.before[:40]!r} does not appear before {self.after[:40]!r}"


_DISALLOWED = re.compile(
    "["
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff"  # Katakana
    "\U0001f600-\U0001f64f"  # emoticons
    "\U0001f300-\U0001f5ff"  # misc symbols and pictographs
    "\U0001f680-\U0001f6ff"  # transport and map symbols
    "\U0001f1e0-\U0001f1ff"  # regional indicators
    "]"
)
_MARKDOWN_IMAGE = re.compile(r"!\[.*?\]\(.*?\)")


@dataclass(kw_only=True)
class BaselineTest(BenchTest):
    """`baseline`: the page is non-empty, does not end in a loop, and has no disallowed scripts.

    With `max_length` set it is a blank-page check instead: at most that many alphanumeric characters.
    """

    max_length: int | None = None
    max_length_skips_image_alt_tags: bool = False
    max_repeats: int = 30
    check_disallowed_characters: bool = True

    allowed_types: ClassVar[tuple[str, ...]] = ("baseline",)

    def run(self, content: str, renderer: EquationRenderer | None = None) -> Verdict:
        alnum = sum(c.isalnum() for c in content)
        if self.max_length is not None:
            if self.max_length_skips_image_alt_tags:
                alnum = sum(c.isalnum() for c in _MARKDOWN_IMAGE.sub("", content))
            if alnum > self.max_length:
                return False, f"{alnum} alphanumeric characters on a page expected to be blank"
            return True, ""
        if alnum == 0:
            return False, "no alphanumeric characters"
        for size, count in enumerate(trailing_ngram_repeats(content, 5), start=1):
            if count > self.max_repeats:
                return False, f"text ends with {count} repeating {size}-grams"
        if self.check_disallowed_characters and (bad := _DISALLOWED.findall(content)):
            return False, f"disallowed characters {bad[:10]}"
        return True, ""


_FORMAT_PATTERNS: dict[str, tuple[tuple[str, int], ...]] = {
    "heading": (
        (r"^#{1,6}\s+(.+?)$", re.MULTILINE),
        (r"<h[1-6][^>]*>(.*?)</h[1-6]>", re.IGNORECASE | re.DOTALL),
    ),
    "bold": (
        (r"\*\*(.*?)\*\*", re.DOTALL),
        (r"__(.*?)__", re.DOTALL),
        (r"<b[^>]*>(.*?)</b>", re.IGNORECASE | re.DOTALL),  # also opens at <br>/<body>: upstream QUIRK
        (r"<strong[^>]*>(.*?)</strong>", re.IGNORECASE | re.DOTALL),
    ),
    "italic": (
        (r"(?<!\*)\*(?!\*)(.*?)(?<!\*)\*(?!\*)", re.DOTALL),
        (r"(?<!_)_(?!_)(.*?)(?<!_)_(?!_)", re.DOTALL),
        (r"<i[^>]*>(.*?)</i>", re.IGNORECASE | re.DOTALL),
        (r"<em[^>]*>(.*?)</em>", re.IGNORECASE | re.DOTALL),
    ),
}


@dataclass(kw_only=True)
class FormatTest(BenchTest):
    """`format`: `text` appears inside a heading, bold or italic span of the raw page."""

    text: str
    format: str
    case_sensitive: bool = True

    allowed_types: ClassVar[tuple[str, ...]] = ("format",)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.text = _normalized_nonblank(self.text, "text")
        if self.format not in _FORMAT_PATTERNS:
            raise ValidationError(f"invalid format {self.format!r}; must be heading, bold or italic")

    def run(self, content: str, renderer: EquationRenderer | None = None) -> Verdict:
        spans = [
            normalize_text(found)
            for pattern, flags in _FORMAT_PATTERNS[self.format]
            for found in re.findall(pattern, content, flags)
        ]
        query = self.text
        if not self.case_sensitive:
            query, spans = query.lower(), [s.lower() for s in spans]
        threshold = diff_threshold(self.max_diffs, query)
        if any(fuzz.partial_ratio(query, span) / 100.0 >= threshold for span in spans):
            return True, ""
        sample = ", ".join(repr(s[:20]) for s in spans[:3]) or "none"
        return False, f"{self.text[:40]!r} not found with {self.format} formatting (found: {sample})"


_SUPERSCRIPT_DIGITS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_FOOTNOTE_WINDOW = 200


def _alnum_lower(text: str) -> str:
    return "".join(c for c in normalize_text(text) if c.isalnum()).lower()


@dataclass(kw_only=True)
class FootnoteTest(BenchTest):
    """`footnote`: the marker occurs as [^M], <sup>M</sup> or Unicode superscript digits, near the given texts."""

    marker: str
    appears_before_marker: str | None = None
    appears_after_marker: str | None = None

    allowed_types: ClassVar[tuple[str, ...]] = ("footnote",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.marker:
            raise ValidationError("marker is required")
        if " " in self.marker:
            raise ValidationError("marker cannot contain a space")
        if self.appears_before_marker:
            self.appears_before_marker = _normalized_nonblank(self.appears_before_marker, "appears_before_marker")
        if self.appears_after_marker:
            self.appears_after_marker = _normalized_nonblank(self.appears_after_marker, "appears_after_marker")

    def marker_spans(self, content: str) -> list[tuple[int, int]]:
        marker = re.escape(self.marker)
        spans = [m.span() for m in re.finditer(rf"\[\^{marker}\](?!:)", content)]
        spans += [m.span() for m in re.finditer(rf"<sup[^>]*>{marker}</sup>", content, re.IGNORECASE)]
        if self.marker.isascii() and self.marker.isdigit():
            superscript = re.escape(self.marker.translate(_SUPERSCRIPT_DIGITS))
            spans += [m.span() for m in re.finditer(superscript, content)]
        return spans

    def run(self, content: str, renderer: EquationRenderer | None = None) -> Verdict:
        spans = self.marker_spans(content)
        if not spans:
            return False, f"footnote marker {self.marker!r} not found"
        failures = []
        if self.appears_before_marker and not any(
            self._near(self.appears_before_marker, content[max(0, start - _FOOTNOTE_WINDOW) : start], tail=True)
            for start, _ in spans
        ):
            failures.append(f"{self.appears_before_marker[:40]!r} not found before marker {self.marker!r}")
        if self.appears_after_marker and not any(
            self._near(self.appears_after_marker, content[end : end + _FOOTNOTE_WINDOW], tail=False) for _, end in spans
        ):
            failures.append(f"{self.appears_after_marker[:40]!r} not found after marker {self.marker!r}")
        return (not failures), "; ".join(failures)

    def _near(self, target: str, window: str, tail: bool) -> bool:
        """Fuzzy match of the cleaned target against the cleaned window end (or start) of 2x its length."""
        clean_target, clean_window = _alnum_lower(target), _alnum_lower(window)
        if not clean_window:
            return False
        length = min(len(clean_window), 2 * len(clean_target))
        if length:
            clean_window = clean_window[-length:] if tail else clean_window[:length]
        return fuzz.partial_ratio(clean_target, clean_window) / 100.0 >= diff_threshold(self.max_diffs, target)
