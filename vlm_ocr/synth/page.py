"""One page through mine_html_pages: a sampled PDF page (chat model, then the HTML's half) or a given HTML file
(the HTML's half alone: tables checked, one-page render, tests, reference Markdown, the page's files)."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

from vlm_ocr.errors import InputError
from vlm_ocr.katex.render import find_renderer
from vlm_ocr.pages.pdf import page_count
from vlm_ocr.prep import fs
from vlm_ocr.prep.input_paths import require_dir
from vlm_ocr.prep.ordered_pool import Drop
from vlm_ocr.prep.pdf_filter import filter_reason
from vlm_ocr.prep.runner import Outputs
from vlm_ocr.prep.single_pages import extract_page
from vlm_ocr.synth.conversation import ChatSettings, mine_html
from vlm_ocr.synth.grid import table_shape_problem
from vlm_ocr.synth.layout import PagePaths, pdf_id_of
from vlm_ocr.synth.markup import reference_markdown
from vlm_ocr.synth.render import Overflow, PageGeometry, render_one_page, source_page
from vlm_ocr.synth.verify import page_tests

logger = logging.getLogger(__name__)
META_NAME = "vlm-ocr-synth"
"""The <meta> of a mined page's HTML that records how to make its tests again (`--from-html`)."""
LETTER = PageGeometry(612.0, 792.0, (791, 1024))
"""The page of an HTML file that says nothing about its page: US Letter, as the original's Chromium default."""


@dataclass(frozen=True)
class PageSettings:
    """What every page of a run shares."""

    name: str
    chromium: str
    present_tests: int
    chat: ChatSettings | None = None
    filter_pdfs: bool = False
    git_sha: str | None = None


@dataclass(frozen=True)
class Source:
    """An input file and its path relative to the inputs' common folder (which names the page)."""

    path: str
    relative: str

    @property
    def pdf_id(self) -> str:
        return pdf_id_of(self.relative)


def sources_of(pdfs: str | None, from_html: Path | None, seed: int) -> list[Source]:
    """The input files in processing order: PDFs shuffled by the seed (as the original), HTML files sorted."""
    if (pdfs is None) == (from_html is None):
        raise InputError("give --pdfs or --from-html (one of them)", "--pdfs 'DIR/**/*.pdf', or --from-html DIR")
    if from_html is not None:
        root = require_dir(from_html, "--from-html", "pass a folder of .html files").resolve()
        files = sorted(root.rglob("*.html"))
        if not files:
            raise InputError(f"--from-html {from_html}: no .html file in it", "pass a folder of .html pages")
        return [Source(str(path), path.relative_to(root).as_posix()) for path in files]
    paths = [path for path in fs.glob_paths(pdfs) if path.lower().endswith(".pdf")]
    if not paths:
        raise InputError(f"--pdfs {pdfs}: matches no PDF", "check the pattern, and quote it ('DIR/**/*.pdf')")
    root = fs.common_root(paths)
    sources = [Source(path, fs.relative_to(path, root)) for path in paths]
    random.Random(seed).shuffle(sources)
    return sources


def mine_pdf_page(source: Source, settings: PageSettings, client: Any) -> Outputs:
    """A PDF's page drawn as the original draws it (seeded by the file's SHA-1), through the chat model."""
    assert settings.chat is not None
    with tempfile.TemporaryDirectory(prefix="mine-html-") as tmp:
        local = fs.local_copy(source.path, tmp)
        if settings.filter_pdfs and (reason := filter_reason(local)):
            raise Drop(f"filtered: {reason}")
        seed = int(hashlib.sha1(local.read_bytes()).hexdigest()[:8], 16)
        rng = random.Random(seed)
        pages = page_count(local)
        page = rng.randint(1, pages)
        png, geometry = source_page(local, page - 1)
        mined = mine_html(client, settings.chat, png, geometry, settings.chromium)
        original = extract_page(local, page - 1)
    requests = [reply.record() for reply in mined.replies]
    made_from = {"seed": seed, "pages": pages, "page": page, "pdf_id": source.pdf_id, "git_sha": settings.git_sha}
    made_from |= {"page_size_pt": [geometry.width_pt, geometry.height_pt], "viewport": list(geometry.viewport)}
    html = with_meta(mined.html, made_from)
    record = {"source": source.path, "made_from": made_from, "model": settings.chat.model, "requests": requests}
    paths = PagePaths(settings.name, source.pdf_id, page)
    return finish_page(html, paths, rng, geometry, settings, record, original)


def mine_html_file(source: Source, settings: PageSettings) -> Outputs:
    """An HTML file: a page this tool mined keeps its name, seed and page size (its <meta>); any other page is
    page 1 of Letter size, seeded by the SHA-1 of its text."""
    html = Path(source.path).read_text(encoding="utf-8")
    made_from = meta_of(html)
    if made_from is not None:
        rng = random.Random(made_from["seed"])
        rng.randint(1, made_from["pages"])  # the draw that picked the page, so the tests draw as they did
        geometry = PageGeometry(*made_from["page_size_pt"], viewport=tuple(made_from["viewport"]))
        paths = PagePaths(settings.name, made_from["pdf_id"], made_from["page"])
    else:
        rng = random.Random(int(hashlib.sha1(html.encode()).hexdigest()[:8], 16))
        geometry, paths = LETTER, PagePaths(settings.name, source.pdf_id, 1)
    record = {"source": source.path, "made_from": made_from, "model": None, "requests": []}
    return finish_page(html, paths, rng, geometry, settings, record)


def finish_page(
    html: str,
    paths: PagePaths,
    rng: random.Random,
    geometry: PageGeometry,
    settings: PageSettings,
    record: dict,
    source_pdf: bytes | None = None,
) -> Outputs:
    """The HTML's half: reject what cannot make a test page, render, make and check the tests, lay out the files."""
    if problem := table_shape_problem(html):
        raise Drop(problem)
    try:
        rendered = render_one_page(html, geometry, settings.chromium)
    except Overflow as err:
        raise Drop(str(err)) from None
    reference = reference_markdown(html)
    renderer, _ = find_renderer(settings.chromium)
    checked = page_tests(html, paths.pdf_id, paths.pdf, reference, rng, settings.present_tests, renderer)
    if not checked.kept:
        raise Drop("no test that the reference Markdown passes")
    tokens_in = sum(r["tokens_in"] for r in record["requests"])
    tokens_out = sum(r["tokens_out"] for r in record["requests"])
    logger.info("%s: %d tests, %d tokens in, %d out", paths.stem, len(checked.kept), tokens_in, tokens_out)
    record = {"name": paths.name, "pdf_id": paths.pdf_id, "page": paths.page, **record, "scale": rendered.scale}
    record |= {"tokens_in": tokens_in, "tokens_out": tokens_out, "tests": checked.kept}
    record["tests_failed_by_reference"] = dict(checked.failed)
    return paths.outputs(html, rendered.pdf, reference, source_pdf, record)


def with_meta(html: str, made_from: dict) -> str:
    """The HTML with a <meta> recording how its page was made, first in its <head> (left as is without one), as
    the original adds its git commit."""
    soup = BeautifulSoup(html, "html.parser")
    head = soup.find("head")
    if head is None:
        return html
    head.insert(0, soup.new_tag("meta", attrs={"name": META_NAME, "content": json.dumps(made_from)}))
    return str(soup)


def meta_of(html: str) -> dict | None:
    tag = BeautifulSoup(html, "html.parser").find("meta", attrs={"name": META_NAME})
    try:
        return json.loads(tag["content"]) if tag is not None else None
    except (KeyError, ValueError):
        return None
