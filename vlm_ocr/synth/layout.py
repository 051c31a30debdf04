"""The bench folder mine_html_pages writes: olmOCR-Bench's layout (pdfs/, <name>.jsonl, claude_original/) plus
the HTML, the source pages and one record per page; the page names; the SFT pairs made from it."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlm_ocr.pages.files import atomic_write_text
from vlm_ocr.prep.item_outputs import write_outputs
from vlm_ocr.prep.ordered_pool import Drop
from vlm_ocr.prep.runner import Link, Outputs

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def pdf_id_of(relative: str) -> str:
    """A file-safe id for a source path: its letters kept, a hash against collisions, `_page` never inside it
    (olmOCR's RL loader splits `<pdf_id>_page<N>` at `_page`)."""
    slug = _UNSAFE.sub("-", relative.removesuffix(".pdf").removesuffix(".html")).strip("-").replace("_page", "-page")
    return f"{slug[:80]}-{hashlib.sha1(relative.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class PagePaths:
    """Where one page's files go, relative to the bench folder; `record` is written last and marks it done."""

    name: str
    pdf_id: str
    page: int

    @property
    def stem(self) -> str:
        return f"{self.pdf_id}_page{self.page}"

    @property
    def pdf(self) -> str:
        """The path the tests name: relative to pdfs/."""
        return f"{self.name}/{self.stem}.pdf"

    def outputs(self, html: str, pdf: bytes, reference: str, source_page: bytes | None, record: dict) -> Outputs:
        outputs: Outputs = {
            f"html/{self.name}/{self.stem}.html": html,
            f"pdfs/{self.pdf}": pdf,
            f"claude_original/{self.name}/{self.stem}_pg1_repeat1.md": reference,
        }
        if source_page is not None:
            outputs[f"originals/{self.name}/{self.stem}.pdf"] = source_page
        outputs[record_key(self.name, self.pdf_id)] = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
        return outputs


def record_key(name: str, pdf_id: str) -> str:
    return f"pages/{name}/{pdf_id}.json"


def drop_key(record: str) -> str:
    """The file that remembers a dropped page, beside where its record would be."""
    return record.removesuffix(".json") + ".dropped.json"


def remember_drops(work: Callable[[Any], Outputs], bench: Path, key: Callable[[Any], str]) -> Callable[[Any], Outputs]:
    """`work` that also writes, before re-raising it, the reason of each `Drop`: a dropped page is finished
    (asking the chat model again would cost the same requests); `--run.overwrite` tries it again."""

    def remembering(item: Any) -> Outputs:
        try:
            return work(item)
        except Drop as reason:
            replies = getattr(reason, "replies", ())  # the requests a page cost before it was dropped
            note = {"item": key(item), "reason": str(reason)}
            note |= {
                "tokens_in": sum(r.prompt_tokens for r in replies),
                "tokens_out": sum(r.completion_tokens for r in replies),
            }
            atomic_write_text(bench / drop_key(key(item)), json.dumps(note, ensure_ascii=False) + "\n")
            raise

    return remembering


def is_finished(bench: Path, record: str) -> bool:
    return (bench / record).exists() or (bench / drop_key(record)).exists()


RUN_RECORDS = "pages"
"""Where the run's own records go (`_meta.json`, `dropped.jsonl`, `errors.jsonl`): not the bench folder's top,
whose every `*.jsonl` is a test file."""


class BenchWriter:
    """The runner's sink: each page's files written under the bench folder, atomically, its record last."""

    def __init__(self, bench: Path) -> None:
        self.bench = bench

    def start(self, resume: bool) -> set[str]:
        return set()  # done pages are found by their record (map_items' `done`)

    def write(self, key: str, result: Outputs) -> None:
        write_outputs(self.bench, result)

    def close(self) -> None:
        pass


@dataclass
class BenchTotals:
    """What the bench folder holds (every finished page, this run's and earlier runs'), and the tokens spent on
    it, the dropped pages' requests included."""

    pages: int = 0
    dropped: int = 0
    tests: Counter = field(default_factory=Counter)
    failed_by_reference: Counter = field(default_factory=Counter)
    tokens_in: int = 0
    tokens_out: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "pages_dropped": self.dropped,
            "tests": dict(sorted(self.tests.items())),
            "tests_dropped_failing_the_reference": dict(sorted(self.failed_by_reference.items())),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
        }


def page_records(bench: Path, name: str) -> list[dict]:
    """The records of the finished (not dropped) pages, in name order."""
    paths = sorted(p for p in (bench / "pages" / name).glob("*.json") if not p.name.endswith(".dropped.json"))
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def bench_totals(bench: Path, name: str) -> BenchTotals:
    totals = BenchTotals()
    for record in page_records(bench, name):
        totals.pages += 1
        totals.tests.update(test["type"] for test in record["tests"])
        totals.failed_by_reference.update(record["tests_failed_by_reference"])
        totals.tokens_in += record["tokens_in"]
        totals.tokens_out += record["tokens_out"]
    for path in (bench / "pages" / name).glob("*.dropped.json"):
        note = json.loads(path.read_text(encoding="utf-8"))
        totals.dropped += 1
        totals.tokens_in += note.get("tokens_in", 0)
        totals.tokens_out += note.get("tokens_out", 0)
    return totals


def write_test_file(bench: Path, name: str) -> BenchTotals:
    """`<name>.jsonl` from every page record, in page order, replaced atomically; the folder's totals."""
    lines = [json.dumps(t, ensure_ascii=False) + "\n" for record in page_records(bench, name) for t in record["tests"]]
    atomic_write_text(bench / f"{name}.jsonl", "".join(lines))
    return bench_totals(bench, name)


def pair_outputs(bench: Path, record: dict) -> Outputs:
    """One SFT pair of a finished page: its rendered PDF (a link into the bench folder) and reference Markdown."""
    paths = PagePaths(record["name"], record["pdf_id"], record["page"])
    reference = bench / "claude_original" / paths.name / f"{paths.stem}_pg1_repeat1.md"
    return {
        f"{paths.name}/{paths.stem}.pdf": Link(bench / "pdfs" / paths.pdf),
        f"{paths.name}/{paths.stem}.md": reference.read_text(encoding="utf-8"),
    }


def cost_plan(inputs: int, done: int, todo: int, totals: BenchTotals) -> str:
    """What a dry run prints: the pages left, and their tokens projected from what the pages tried so far cost
    (dropped ones included)."""
    lines = [f"{inputs} inputs; {done} pages already in the folder; {todo} to mine"]
    tried = totals.pages + totals.dropped
    if not tried:
        return "\n".join([*lines, "no finished page to project tokens from: mine a few first (--max-pages 3)"])
    mean_in, mean_out = totals.tokens_in / tried, totals.tokens_out / tried
    lines.append(
        f"tokens per page tried: {mean_in:,.0f} in, {mean_out:,.0f} out (over {tried} pages, {totals.pages} kept)"
    )
    lines.append(f"projected for {todo} pages: {mean_in * todo:,.0f} in, {mean_out * todo:,.0f} out")
    return "\n".join(lines)
