"""Validated, cached index of a pair tree: which pages are usable, which are bad and why, and (given an answer
token counter) how many tokens each page's answer has, so packing is planned without tokenizing again."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vlm_ocr.pages.files import atomic_write_text
from vlm_ocr.pages.front_matter import FrontMatterError, read_page_markdown
from vlm_ocr.pages.pairs import ScannedPair, scan_pair_tree
from vlm_ocr.pages.pdf import PdfError, open_pdf

if TYPE_CHECKING:
    from vlm_ocr.data.answer_tokens import AnswerTokens

logger = logging.getLogger(__name__)

INDEX_FORMAT = 2
_INLINE_LIMIT = 64  # below this many files a process pool costs more than it saves


@dataclass(frozen=True)
class PageRecord:
    """A usable page: its files and what planning needs without opening them again.

    `answer_tokens` is the training answer's token count (None when the index was built without a counter).
    """

    markdown_path: str
    pdf_path: str
    width_pt: float
    height_pt: float
    text_chars: int
    answer_tokens: int | None = None


@dataclass(frozen=True)
class BadInput:
    """A file that training skips, with the reason."""

    path: str
    reason: str


@dataclass
class DatasetIndex:
    """The pages of one root, in sorted path order, and its bad inputs.

    `counted` is how many answers this build tokenized (0 when everything came from the cache).
    """

    name: str
    root: Path
    pages: list[PageRecord]
    bad: list[BadInput]
    counted: int = 0

    @property
    def bad_fraction(self) -> float:
        total = len(self.pages) + len(self.bad)
        return len(self.bad) / total if total else 0.0


def validate_pair(
    markdown_path: str,
    pdf_path: str,
    pdf_exists: bool,
    allow_extra_keys: bool,
    answer_tokens: AnswerTokens | None = None,
) -> PageRecord | BadInput:
    """Check one pair: the PDF exists, opens and has exactly one page; the Markdown parses. A usable page's
    answer tokens are counted when `answer_tokens` is given."""
    if not pdf_exists:
        return BadInput(markdown_path, "no PDF beside the Markdown file")
    try:
        page = read_page_markdown(markdown_path, allow_extra_keys=allow_extra_keys)
    except FrontMatterError as err:
        return BadInput(markdown_path, err.reason)
    try:
        doc = open_pdf(pdf_path)
    except PdfError as err:
        return BadInput(pdf_path, err.reason)
    try:
        if len(doc) != 1:
            return BadInput(pdf_path, f"expected exactly one page, found {len(doc)}")
        width, height = doc[0].get_size()
    except Exception as err:  # pdfium raises on damaged page trees only when a page is touched
        return BadInput(pdf_path, f"cannot read page: {err}")
    finally:
        doc.close()
    tokens = answer_tokens(page) if answer_tokens is not None else None
    return PageRecord(markdown_path, pdf_path, float(width), float(height), len(page.natural_text or ""), tokens)


def _validate_star(args: tuple[str, str, bool, bool, AnswerTokens | None]) -> PageRecord | BadInput:
    return validate_pair(*args)


def _cache_key(pair: ScannedPair) -> list[int]:
    pdf = pair.pdf_stat
    return [pair.markdown_stat.size, pair.markdown_stat.mtime_ns, pdf.size if pdf else -1, pdf.mtime_ns if pdf else -1]


def _cache_file(cache_dir: Path, root: Path, allow_extra_keys: bool, counts_key: str | None) -> Path:
    """One cache per root and settings: another tokenizer or target format gets (and fills) its own file."""
    digest = hashlib.sha1(f"{root.resolve()}|extra={allow_extra_keys}|answers={counts_key}".encode()).hexdigest()[:16]
    return cache_dir / f"index-{digest}.json"


def _load_cache(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        logger.warning("ignoring unreadable index cache %s: %s", path, err)
        return {}
    return data.get("entries", {}) if data.get("format") == INDEX_FORMAT else {}


def build_index(
    root: str | Path,
    *,
    name: str | None = None,
    cache_dir: str | Path | None = None,
    workers: int = 0,
    allow_extra_keys: bool = False,
    answer_tokens: AnswerTokens | None = None,
) -> DatasetIndex:
    """Scan `root`, validate new or changed pairs in parallel, reuse cached results for the rest.

    Args:
        root: a pair tree.
        name: the name the root is reported under (its folder name by default).
        cache_dir: where the index cache lives; None disables caching.
        workers: validation processes (0: one per CPU).
        allow_extra_keys: accept front matter with keys beyond the five known ones.
        answer_tokens: counts each usable page's answer tokens while validating (stored with the page and cached
            under the tokenizer's fingerprint); None stores no counts.
    """
    root = Path(root)
    scanned, lone_pdfs = scan_pair_tree(root)
    counts_key = answer_tokens.key if answer_tokens is not None else None  # hashes the tokenizer files once, here
    cache_path = _cache_file(Path(cache_dir), root, allow_extra_keys, counts_key) if cache_dir else None
    cached = _load_cache(cache_path) if cache_path else {}
    results: dict[str, PageRecord | BadInput] = {}
    todo: list[ScannedPair] = []
    for pair in scanned:
        entry = cached.get(str(pair.markdown_path))
        if entry is not None and entry["key"] == _cache_key(pair):
            record = entry["page"]
            results[str(pair.markdown_path)] = PageRecord(**record) if "width_pt" in record else BadInput(**record)
        else:
            todo.append(pair)
    jobs = [
        (str(p.markdown_path), str(p.pdf_path), p.pdf_stat is not None, allow_extra_keys, answer_tokens) for p in todo
    ]
    if len(jobs) > _INLINE_LIMIT and workers != 1:
        if answer_tokens is not None:
            answer_tokens.tokenizer()  # loaded once here: forked workers inherit it instead of each loading it
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
            fresh = list(pool.map(_validate_star, jobs, chunksize=256))
    else:
        fresh = [_validate_star(job) for job in jobs]
    for pair, result in zip(todo, fresh, strict=True):
        results[str(pair.markdown_path)] = result
    if cache_path and (todo or len(cached) != len(scanned)):
        entries = {
            str(p.markdown_path): {"key": _cache_key(p), "page": asdict(results[str(p.markdown_path)])} for p in scanned
        }
        atomic_write_text(
            cache_path,
            json.dumps({"format": INDEX_FORMAT, "root": str(root), "answers": counts_key, "entries": entries}),
        )
    ordered = [results[str(p.markdown_path)] for p in scanned]
    ordered += [BadInput(str(pdf), "no Markdown beside the PDF") for pdf in lone_pdfs]
    index = DatasetIndex(
        name=name or root.name,
        root=root,
        pages=[r for r in ordered if isinstance(r, PageRecord)],
        bad=[r for r in ordered if isinstance(r, BadInput)],
        counted=sum(isinstance(r, PageRecord) for r in fresh) if answer_tokens is not None else 0,
    )
    counts = "no answer token counts"
    if answer_tokens is not None:
        counts = f"{index.counted} answers tokenized (tokenizer {answer_tokens.fingerprint})"
    logger.info(
        "indexed %s: %d pages, %d bad (%d validated, %d from cache), %s",
        index.name,
        len(index.pages),
        len(index.bad),
        len(todo),
        len(scanned) - len(todo),
        counts,
    )
    return index
