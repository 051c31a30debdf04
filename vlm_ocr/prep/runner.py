"""map_items(): the one loop of every data tool (pool, progress, limit, resume, atomic writes, errors, _meta)."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from tqdm import tqdm

from vlm_ocr.pages.files import atomic_write_bytes, atomic_write_text
from vlm_ocr.prep.meta import now_iso, write_meta

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


@dataclass(frozen=True)
class Link:
    """An output that is a symlink to `target`; written relative, so a moved output tree keeps working."""

    target: Path


# Relative path under out_dir -> content. Written in order, each atomically: put the file that marks
# the item as done (the `key`) last, so a kill in between leaves the item to be redone, never half-done.
Outputs = dict[str, bytes | str | Link]


class Drop(Exception):
    """Raised by a per-item function to drop its item on purpose (counted by reason, not an error)."""


class Sink(Protocol):
    """Receives results in the main thread, in input order, for tools that write shared files (JSONL parts)."""

    def start(self, resume: bool) -> set[str]:
        """Prepare to write; with `resume`, return the keys of items already written."""
        ...

    def write(self, key: str, result: Any) -> None: ...

    def close(self) -> None: ...


DEFAULT_RUN = RunArgs()


class Collect:
    """A sink that keeps results in memory (small per-item records that a tool aggregates at the end)."""

    def __init__(self) -> None:
        self.results: list[Any] = []

    def start(self, resume: bool) -> set[str]:
        return set()

    def write(self, key: str, result: Any) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


@dataclass
class Counts:
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
    out_dir.mkdir(parents=True, exist_ok=True)
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
            handle_.write(json.dumps(line, ensure_ascii=False) + "\n")

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
                handle(item_key, lambda item=item: _call(fn, item))
        else:
            with _executor(pool, run.workers) as executor:
                _run_pool(executor, fn, todo, run.workers * 2, handle, reached)
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
            yield f"item #{index}", _Invalid(err)
            continue
        if is_done(item_key, item):
            counts.skipped += 1
            bar.update(1)
            continue
        yield item_key, item


@dataclass(frozen=True)
class _Invalid:
    error: Exception


class ItemFailed(Exception):
    """A per-item failure as `Type: message`: picklable whatever the original exception's signature."""


def _call(fn: Callable[[T], Any], item: T) -> Any:
    if isinstance(item, _Invalid):
        raise item.error
    try:
        return fn(item)
    except Drop:
        raise
    except Exception as err:  # noqa: BLE001 - re-raised in a form that crosses process boundaries
        raise ItemFailed(f"{type(err).__name__}: {err}") from None


def _submit(executor: Executor, fn, item) -> Future:
    if isinstance(item, _Invalid):
        future: Future = Future()
        future.set_exception(item.error)
        return future
    return executor.submit(_call, fn, item)


def _run_pool(executor: Executor, fn, todo, window: int, handle, reached) -> None:
    """Submit at most `window` items ahead and consume results in input order (bounded memory)."""
    pending: deque[tuple[str, Future]] = deque()
    try:
        for item_key, item in todo:
            if reached():
                break
            pending.append((item_key, _submit(executor, fn, item)))
            if len(pending) >= window:
                done_key, future = pending.popleft()
                handle(done_key, future.result)
        while pending:
            done_key, future = pending.popleft()
            if reached():
                future.cancel()
                continue
            handle(done_key, future.result)
    except BaseException:  # Ctrl-C or a sink error: do not wait for work that will be thrown away
        for _, future in pending:
            future.cancel()
        raise


def _executor(pool: str, workers: int) -> Executor:
    return ProcessPoolExecutor(max_workers=workers) if pool == "process" else ThreadPoolExecutor(max_workers=workers)


def write_outputs(out_dir: Path, outputs: Outputs) -> None:
    """Write each output atomically, in order; paths must stay inside `out_dir`."""
    root = out_dir.resolve()
    for rel, content in outputs.items():
        path = (out_dir / rel).resolve()
        if root not in path.parents:
            raise ValueError(f"output path {rel!r} escapes {out_dir}")
        if isinstance(content, Link):
            atomic_symlink(Path(content.target), out_dir / rel)
        elif isinstance(content, str):
            atomic_write_text(out_dir / rel, content)
        else:
            atomic_write_bytes(out_dir / rel, content)


def atomic_symlink(target: Path, link: Path) -> None:
    """Point `link` at `target` with a relative symlink, replacing any existing file atomically."""
    link.parent.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(Path(target).resolve(), link.parent.resolve())
    tmp = link.parent / f".{link.name}.{os.getpid()}.link.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(relative, tmp)
    os.replace(tmp, link)
