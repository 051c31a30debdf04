"""Synthetic bench pages with unit tests: a chat model rewrites sampled PDF pages as HTML, Chromium renders them,
the tests come from the HTML (olmOCR 2's RL data)."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from vlm_ocr.errors import InputError
from vlm_ocr.katex.render import find_renderer
from vlm_ocr.prep.fetch import RetryPolicy
from vlm_ocr.prep.meta import git_sha, now_iso, write_meta
from vlm_ocr.prep.openai_client import make_client
from vlm_ocr.prep.runner import RunArgs, map_items
from vlm_ocr.synth.conversation import ChatSettings
from vlm_ocr.synth.layout import (
    RUN_RECORDS,
    BenchWriter,
    bench_totals,
    cost_plan,
    is_finished,
    page_records,
    pair_outputs,
    record_key,
    remember_drops,
    write_test_file,
)
from vlm_ocr.synth.page import PageSettings, Source, meta_of, mine_html_file, mine_pdf_page, sources_of
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
TOOL = "mine_html_pages"
CHAT_RETRY = RetryPolicy(timeout_s=900.0)
RUN = RunArgs(workers=4)


def main(
    *,
    out: Path,
    pdfs: str | None = None,
    from_html: Path | None = None,
    model: str | None = None,
    base_url: str | None = None,
    pairs: Path | None = None,
    name: str = "synthetic",
    max_pages: int | None = None,
    dry_run: bool = False,
    seed: int = 42,
    present_tests: int = 5,
    filter_pdfs: bool = False,
    chromium: str = "chromium",
    refine_thinking_tokens: int = 0,
    retry: RetryPolicy = CHAT_RETRY,
    run: RunArgs = RUN,
) -> int:
    """Mine one random page per PDF into an olmOCR-Bench folder (pdfs/, <name>.jsonl, claude_original/).

    The key comes from OPENAI_API_KEY only (never written anywhere); any OpenAI-compatible endpoint serves
    (--base-url, else OPENAI_BASE_URL). A finished page (its record, or the reason it was dropped, is in pages/)
    is skipped: a second run pays for no page twice (--run.overwrite redoes them).

    Args:
        out: The bench folder to write (also holds html/, originals/ and pages/, one record per page).
        pdfs: Glob of source PDFs (`**` allowed, s3:// too).
        from_html: Folder of HTML pages: make their bench pages without a chat model (the deterministic half).
        model: Chat model at the endpoint (needed with --pdfs).
        base_url: OpenAI-compatible endpoint, e.g. http://localhost:8000/v1.
        pairs: Also write single-page (PDF, Markdown) pairs for the SFT data here.
        name: Test file `<name>.jsonl` and sub-folder of pdfs/ and claude_original/.
        max_pages: Stop once this many pages are finished, kept or dropped, earlier runs' included (a cost
            estimate: mine a few, then --dry-run).
        dry_run: Print what would be mined and the token cost projected from finished pages; request nothing.
        seed: Seed of the order in which PDFs are taken.
        present_tests: Present tests per page, on sentences no order test uses (0: the original's tests only).
        filter_pdfs: Leave out forms, unreadable, non-English and spam PDFs (the original's --filter).
        chromium: Chromium executable (renders the HTML and its KaTeX math).
        refine_thinking_tokens: Extended-thinking budget of the refinement request (Claude: 12000, as the
            original); 0 sends none.
        retry: Retries of a chat request on 429/5xx/timeouts; timeout_s bounds one request.
        run: Common data-tool flags (`--run.workers` pages at once).
    """
    config = {k: v for k, v in locals().items() if k in main.__annotations__}
    sources = sources_of(pdfs, from_html, seed)
    if pdfs is not None and model is None and not dry_run:
        raise InputError("--pdfs needs --model", "name the chat model, e.g. --model claude-sonnet-4-5-20250929")
    if present_tests < 0 or (max_pages is not None and max_pages < 1):
        raise InputError("--present-tests must be >= 0 and --max-pages >= 1", "pass a count that can be met")
    if _bad_name(name):
        raise InputError(f"--name {name!r} is not a plain folder name", "use letters, digits, '-' or '_'")
    key = partial(_record_of, name=name, html=from_html is not None)
    if dry_run:
        done = sum(is_finished(out, key(source)) for source in sources)
        todo = len(sources) - done if max_pages is None else max(0, min(max_pages, len(sources)) - done)
        print(cost_plan(len(sources), done, todo, bench_totals(out, name)))
        return 0
    chat = ChatSettings(model, refine_thinking_tokens, retry) if pdfs is not None else None
    settings = PageSettings(name, _chromium(chromium), present_tests, chat, filter_pdfs, git_sha())
    if chat is not None:
        client = make_client(max_retries=0, timeout_s=retry.timeout_s, base_url=base_url)
        work = partial(mine_pdf_page, settings=settings, client=client)
    else:
        work = partial(mine_html_file, settings=settings)
    started, records, before = now_iso(), out / RUN_RECORDS, bench_totals(out, name)
    done = lambda source: is_finished(out, key(source))  # noqa: E731
    counts = map_items(remember_drops(work, out, key), sources, records, run, tool=TOOL, key=key,
                       sink=BenchWriter(out), done=done, stop_after=max_pages, config=config)  # fmt: skip
    totals = write_test_file(out, name)
    spent = totals.tokens_in - before.tokens_in, totals.tokens_out - before.tokens_out
    logger.info("%s: this run: %s, tokens in %d, out %d", TOOL, counts.line(), *spent)
    logger.info("%s: the folder: %s", TOOL, totals.as_dict())
    write_meta(records / "_meta.json", TOOL, config, counts.as_dict() | {"bench": totals.as_dict()}, started)
    if pairs is not None and totals.pages:
        pair_key = lambda r: f"{r['name']}/{r['pdf_id']}_page{r['page']}.md"  # noqa: E731
        finished = page_records(out, name)
        map_items(partial(pair_outputs, out), finished, pairs, run, tool=TOOL, key=pair_key, stage="pairs")
    if not totals.pages:
        logger.error("%s: no page made it into %s (see %s/dropped.jsonl and errors.jsonl)", TOOL, out, RUN_RECORDS)
    return 1 if counts.failed or not totals.pages else 0


def _bad_name(name: str) -> bool:
    return not name or not all(c.isalnum() or c in "-_" for c in name)


def _chromium(chromium: str) -> str:
    renderer, note = find_renderer(chromium)
    if renderer is None:
        raise InputError(f"--chromium {chromium}: {note}", "install Chromium or pass --chromium PATH")
    return renderer.chromium


def _record_of(source: Source, *, name: str, html: bool) -> str:
    made_from = meta_of(Path(source.path).read_text(encoding="utf-8")) if html else None
    return record_key(name, made_from["pdf_id"] if made_from else source.pdf_id)


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
