"""OpenAI-batch line formats shared by every batch tool: custom_id <-> path, request/result lines, 99 MiB rollover.

custom_id grammar (one for every builder, so every result can be post-processed):
  `<relative pdf path>`           a single-page PDF, e.g. `sub/abc.pdf`
  `<relative pdf path>#page=<n>`  page n (1-based) of a multi-page PDF
Legacy upstream ids (`.pdf` stripped, e.g. `sub/abc`) are still read.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm_ocr.pages.front_matter import PageResponse

logger = logging.getLogger(__name__)

MAX_BATCH_FILE_BYTES = 99 * 1024 * 1024
"""Request files roll over before exceeding this (OpenAI caps a batch input file at 100 MiB+)."""
MAX_BATCH_REQUESTS = 50_000
"""OpenAI's cap on requests per batch input file."""
_PAGE_SUFFIX = re.compile(r"^(?P<pdf>.+)#page=(?P<page>[1-9][0-9]*)$")
_LEGACY_DASH_PAGE = re.compile(r"-(\d+)$")
_CUSTOM_ID_PREFIX = re.compile(r'^\{"custom_id": ("(?:[^"\\]|\\.)*")')


@dataclass(frozen=True)
class PageRef:
    """Which page a custom_id names: a PDF path relative to the source root, and a 1-based page or None."""

    pdf: str
    page: int | None = None

    @property
    def output_stem(self) -> str:
        """Relative output path without extension: `sub/abc`, or `sub/doc_page3` for a page of a larger PDF."""
        stem = self.pdf[: -len(".pdf")] if self.pdf.lower().endswith(".pdf") else self.pdf
        return stem if self.page is None else f"{stem}_page{self.page}"


def format_custom_id(pdf_rel: str, page: int | None = None) -> str:
    if pdf_rel.startswith("/") or ".." in pdf_rel.split("/"):
        raise ValueError(f"custom_id path must be relative and inside the root: {pdf_rel!r}")
    return pdf_rel if page is None else f"{pdf_rel}#page={page}"


def parse_custom_id(custom_id: str) -> list[PageRef]:
    """Candidate pages for a custom_id, best first (legacy ids give the upstream fallback as a second guess)."""
    if custom_id.startswith("/") or ".." in custom_id.split("/") or not custom_id:
        raise ValueError(f"custom_id {custom_id!r} is not a relative path inside the source root")
    match = _PAGE_SUFFIX.match(custom_id)
    if match:
        return [PageRef(match["pdf"], int(match["page"]))]
    if custom_id.lower().endswith(".pdf"):
        return [PageRef(custom_id)]
    candidates = [PageRef(custom_id + ".pdf")]
    dash = _LEGACY_DASH_PAGE.search(custom_id)
    if dash:  # upstream stripped every ".pdf": `x-3` may have been `x.pdf-3.pdf`
        candidates.append(PageRef(custom_id[: dash.start()] + f".pdf-{dash.group(1)}.pdf"))
    return candidates


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def chat_request_line(custom_id: str, body: dict[str, Any]) -> str:
    """One batch input line; `custom_id` comes first so resume can read it without parsing the image."""
    line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    return json.dumps(line, ensure_ascii=False)


def image_message(prompt: str, png: bytes) -> list[dict[str, Any]]:
    """The single user message of an OCR request: prompt text then the page image."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": png_data_uri(png)}},
            ],
        }
    ]


def custom_id_of(line: str) -> str:
    """The custom_id of a request line, read from its start when possible (lines can be megabytes)."""
    match = _CUSTOM_ID_PREFIX.match(line)
    return json.loads(match.group(1)) if match else json.loads(line)["custom_id"]


@dataclass(frozen=True)
class BatchResult:
    """One line of a batch output or error file."""

    custom_id: str
    page: PageResponse | None
    error: str | None


def parse_result_line(line: str) -> BatchResult:
    """Decode a result line; any problem (HTTP error, refusal, truncation, bad JSON) becomes `error`."""
    record = json.loads(line)
    custom_id = str(record.get("custom_id", ""))
    response = record.get("response") or {}
    if response.get("status_code") != 200:
        error = record.get("error") or (response.get("body") or {}).get("error") or "no response"
        return BatchResult(custom_id, None, f"request failed: {json.dumps(error, ensure_ascii=False)}")
    choices = (response.get("body") or {}).get("choices") or []
    if not choices:
        return BatchResult(custom_id, None, "response has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    if message.get("refusal"):
        return BatchResult(custom_id, None, f"refused: {message['refusal']}")
    if choice.get("finish_reason") == "length":
        return BatchResult(custom_id, None, "truncated (finish_reason=length)")
    try:
        return BatchResult(custom_id, page_from_json(message.get("content")), None)
    except (TypeError, ValueError) as err:
        return BatchResult(custom_id, None, f"invalid page JSON: {err}")


def page_from_json(content: str | None) -> PageResponse:
    """The structured-output JSON of a page, validated (rotation in 0/90/180/270, typed fields)."""
    if content is None:
        raise ValueError("message content is null")
    data = json.loads(content)
    if not isinstance(data, dict):
        raise ValueError("page JSON is not an object")
    language = data.get("primary_language")
    text = data.get("natural_text")
    return PageResponse(
        primary_language=language or None,
        is_rotation_valid=data.get("is_rotation_valid", True),
        rotation_correction=data.get("rotation_correction", 0),
        is_table=data.get("is_table", False),
        is_diagram=data.get("is_diagram", False),
        natural_text=None if text is None or not str(text).strip() or str(text).strip() == "null" else text,
    )


def iter_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line.rstrip("\n")


class RolloverWriter:
    """A runner Sink writing request lines into numbered JSONL parts that roll over before `max_bytes`.

    The part being filled is `.<name>.partial` and is renamed when full or at the end, so a finished
    part is never torn. After a kill, the next run keeps the partial part's complete lines, drops a
    torn last line, and appends from there: nothing finished is lost.
    """

    def __init__(
        self,
        out_dir: str | Path,
        pattern: str = "batch_requests_{:04d}.jsonl",
        *,
        max_bytes: int | None = None,
        max_lines: int = MAX_BATCH_REQUESTS,
        key_of: Callable[[str], str] = lambda custom_id: custom_id,
    ):
        self.out_dir = Path(out_dir)
        self.pattern = pattern
        self.max_bytes = max_bytes if max_bytes is not None else MAX_BATCH_FILE_BYTES
        self.max_lines = max_lines
        self.key_of = key_of
        self.index = 0
        self._handle = None
        self._bytes = 0
        self._lines = 0
        self.parts: list[Path] = []

    def _part(self, index: int) -> Path:
        return self.out_dir / self.pattern.format(index)

    def _partial(self, index: int) -> Path:
        return self.out_dir / f".{self._part(index).name}.partial"

    def start(self, resume: bool) -> set[str]:
        """Keys already written (finished parts + the salvaged partial part); without resume, clear old parts."""
        keys: set[str] = set()
        index = 0
        while self._part(index).exists() or self._partial(index).exists():
            if not resume:
                self._part(index).unlink(missing_ok=True)
                self._partial(index).unlink(missing_ok=True)
            elif self._part(index).exists():
                keys.update(self.key_of(custom_id_of(line)) for line in iter_lines(self._part(index)))
                self.parts.append(self._part(index))
            else:
                keys.update(self.key_of(cid) for cid in self._salvage(self._partial(index)))
                break
            index += 1
        self.index = index if resume else 0
        return keys

    def _salvage(self, partial: Path) -> list[str]:
        data = partial.read_bytes()
        ids, good = [], 0
        for raw in data[: data.rfind(b"\n") + 1].splitlines(keepends=True):
            try:
                ids.append(json.loads(raw)["custom_id"])
            except (ValueError, KeyError, TypeError):
                break
            good += len(raw)
        with open(partial, "r+b") as handle:
            handle.truncate(good)
        self._bytes, self._lines = good, len(ids)
        self._handle = open(partial, "ab")
        logger.info("resuming %s with %d requests", partial.name, len(ids))
        return ids

    def write(self, key: str, lines: str | list[str]) -> None:
        for line in [lines] if isinstance(lines, str) else lines:
            data = line.encode("utf-8") + b"\n"
            if len(data) > self.max_bytes:
                raise ValueError(f"{key}: one request is {len(data)} bytes, over the {self.max_bytes}-byte file cap")
            if self._handle is not None and (self._bytes + len(data) > self.max_bytes or self._lines >= self.max_lines):
                self._finish()
            if self._handle is None:
                self._handle = open(self._partial(self.index), "wb")
                self._bytes = self._lines = 0
            self._handle.write(data)
            self._handle.flush()
            self._bytes += len(data)
            self._lines += 1

    def _finish(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        os.replace(self._partial(self.index), self._part(self.index))
        self.parts.append(self._part(self.index))
        self.index += 1

    def close(self) -> None:
        if self._handle is not None:
            self._finish()
        elif not self.parts:  # an empty run still leaves one (empty) part, as upstream does
            self._part(0).touch()
            self.parts.append(self._part(0))
