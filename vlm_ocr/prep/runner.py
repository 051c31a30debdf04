"""map_items(): the one loop of every data tool (limit, resume, drops, errors, progress, _meta) over a worker pool.

The pool is concurrent.futures' and the progress bar tqdm's; resume, drop/error records and `_meta.json`
are the project's own output contract, which no pool or progress library writes.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from tqdm import tqdm

from vlm_ocr.pages.files import check_writable_folder
from vlm_ocr.prep.item_outputs import Link, Outputs, write_outputs
from vlm_ocr.prep.meta import now_iso, write_meta
from vlm_ocr.prep.ordered_pool import (
    Drop,
    Invalid,
    ItemFailed,
    ServiceUnavailable,
    call_item,
    make_executor,
    run_in_order,
)
from vlm_ocr.prep.sinks import Collect, Sink
from vlm_ocr.redaction import redact

__all__ = [
    "DEFAULT_RUN",
    "Collect",
    "Counts",
    "Drop",
    "Link",
    "Outputs",
    "RunArgs",
    "Sink",
    "check_writable_folder",
    "map_items",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RunArgs:
    """Flags every data tool shares."""

    workers: int = 4
    """Parallel workers: threads for network-bound tools, processes for CPU-bound ones; 1 runs inline."""
    limit: int | None = None
    """Consider only the first N input items (in sorted order): a smoke run. None means all."""
    overwrite: bool = False
    """Redo items whose outputs already exist instead of skipping them (resume is the default)."""


DEFAULT_RUN = RunArgs()


@dataclass
class Counts:
    """What a run did with its items; `dropped_reasons` counts drops by reason."""

    processed: int = 0
    skipped: int = 0
    dropped: int = 0
    failed: int = 0
    dropped_reasons: Counter = field(default_factory=Counter)

    def line(self) -> str:
        return f"processed={self.processed} skipped={self.skipped} dropped={self.dropped} failed={self.failed}"

    def as_dict(self) -> dict[str, Any]:
        return vars(self) | {"dropped_reasons": dict(sorted(self.dropped_reasons.items()))}


def map_items(
    fn: Callable[[T], Any],
    items: Iterable[T],
    out_dir: str | Path,
    run: RunArgs,
    *,
    tool: str,
    key: Callable[[T], str],
    pool: Literal["thread", "process"] = "thread",
    sink: Sink | None = None,
    stop_after: int | None = None,
    done: Callable[[T], bool] | None = None,
    total: int | None = None,
    config: dict[str, Any] | None = None,
    stage: str | None = None,
    dropped: dict[str, str] | None = None,
) -> Counts:
    """Apply `fn` to every item not yet done and write what it returns; return the counts.

    `fn(item)` returns `Outputs` (written under `out_dir`), or, with a `sink`, anything the sink takes;
    None or `Drop` drops the item, named with its reason in `dropped.jsonl`; any other exception is a
    failure recorded in `errors.jsonl`. `dropped` (key -> reason) names inputs a tool left out before the loop.
    An item is done when `out_dir/key(item)` exists (or, with a sink, when its key is in
    `sink.start()`), or when `done(item)` is true if given. `stop_after` stops once that many items are
    processed or already done. `total` sizes the progress bar for a streamed (non-list) `items`.
    `stage` names a second loop of the same tool (files `errors.<stage>.jsonl`, `_meta.<stage>.json`).
    """
    out_dir = Path(out_dir)
    check_writable_folder(out_dir, "output folder")  # before any item: a file in the way, a read-only disk
    suffix = f".{stage}" if stage else ""
    errors_path = out_dir / f"errors{suffix}.jsonl"
    errors_path.unlink(missing_ok=True)
    dropped_path = out_dir / f"dropped{suffix}.jsonl"
    dropped_path.unlink(missing_ok=True)
    started = now_iso()
    done_keys = set() if sink is None else sink.start(resume=not run.overwrite)
    counts = Counts()

    def record(path: Path, line: dict[str, str]) -> None:
        with path.open("a", encoding="utf-8") as handle_:
            handle_.write(redact(json.dumps(line, ensure_ascii=False)) + "\n")

    def drop(item_key: str, reason: str) -> None:
        counts.dropped += 1
        counts.dropped_reasons[reason] += 1
        record(dropped_path, {"item": item_key, "reason": reason})

    for item_key, reason in (dropped or {}).items():
        drop(item_key, reason)
    if isinstance(items, (list, tuple)):
        total = len(items)
    if total is not None and run.limit is not None:
        total = min(total, run.limit)
    bar = tqdm(total=total, desc=tool + suffix, unit="item", disable=None, dynamic_ncols=True)

    def is_done(item_key: str, item: T) -> bool:
        if run.overwrite:
            return False
        if done is not None:
            return done(item)
        return item_key in done_keys if sink is not None else (out_dir / item_key).exists()

    def reached() -> bool:
        return stop_after is not None and counts.processed + counts.skipped >= stop_after

    def handle(item_key: str, outcome: Callable[[], Any]) -> None:
        try:
            result = outcome()
            if result is None:
                raise Drop("returned nothing")
            if sink is not None:
                sink.write(item_key, result)
            else:
                write_outputs(out_dir, result)
            counts.processed += 1
        except Drop as reason:
            drop(item_key, str(reason))
        except ServiceUnavailable:
            raise  # an unreachable server or refused credentials: the run stops with one line
        except Exception as err:  # noqa: BLE001 - every failure is recorded, none is swallowed silently
            counts.failed += 1
            message = str(err) if isinstance(err, ItemFailed) else f"{type(err).__name__}: {err}"
            logger.warning("%s: %s", item_key, message)
            record(errors_path, {"item": item_key, "error": message})
        bar.update(1)
        bar.set_postfix_str(counts.line(), refresh=False)

    try:
        todo = _pending(items, key, run.limit, is_done, counts, bar)
        if run.workers <= 1:
            for item_key, item in todo:
                if reached():
                    break
                handle(item_key, lambda item=item: call_item(fn, item))
        else:
            with make_executor(pool, run.workers) as executor:
                run_in_order(executor, fn, todo, run.workers * 2, handle, reached)
        if sink is not None:
            sink.close()
    finally:
        bar.close()
    logger.info("%s%s: %s", tool, suffix, counts.line())
    if counts.dropped:
        logger.info("%s%s: dropped items and why: %s", tool, suffix, dropped_path)
    write_meta(out_dir / f"_meta{suffix}.json", tool, config or {}, counts, started)
    return counts


def _pending(items, key, limit, is_done, counts: Counts, bar) -> Iterator[tuple[str, Any]]:
    for index, item in enumerate(items):
        if limit is not None and index >= limit:
            return
        try:
            item_key = key(item)
        except Exception as err:  # noqa: BLE001 - a bad item (e.g. an unsafe id) fails alone
            yield f"item #{index}", Invalid(err)
            continue
        if is_done(item_key, item):
            counts.skipped += 1
            bar.update(1)
            continue
        yield item_key, item
