"""The data tools' worker pool: items called in threads or processes, a bounded window ahead, results in input order.

The executors are concurrent.futures'; the window is ours because `Executor.map` submits every item at
once (unbounded memory on a streamed input, no early stop) until Python 3.14's `buffersize`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from vlm_ocr.errors import UsageError, service_error

T = TypeVar("T")


class Drop(Exception):
    """Raised by a per-item function to drop its item on purpose (counted by reason, not an error)."""


class ServiceUnavailable(UsageError):
    """An error no item of the run can escape (vlm_ocr.errors.service_error): the run stops with its one line."""


class ItemFailed(Exception):
    """A per-item failure as `Type: message`: picklable whatever the original exception's signature."""


@dataclass(frozen=True)
class Invalid:
    """An item whose key could not be made: it fails alone, with this error, without reaching the function."""

    error: Exception


def call_item(fn: Callable[[T], Any], item: T) -> Any:
    """`fn(item)`, with any failure but `Drop` re-raised as `ItemFailed` (so it crosses process boundaries), or as a
    `ServiceUnavailable` that stops the run when no item could succeed (vlm_ocr.errors.service_error)."""
    if isinstance(item, Invalid):
        raise item.error
    try:
        return fn(item)
    except Drop:
        raise
    except Exception as err:  # noqa: BLE001 - re-raised in a form that crosses process boundaries
        service = service_error(err)
        if service is not None:  # the server or the credentials, not this item: every item would fail alike
            raise ServiceUnavailable(str(service)) from None
        raise ItemFailed(f"{type(err).__name__}: {err}") from None


def make_executor(pool: Literal["thread", "process"], workers: int) -> Executor:
    if pool == "thread":
        return ThreadPoolExecutor(max_workers=workers)
    return ProcessPoolExecutor(max_workers=workers, initializer=exit_with_parent, initargs=(os.getpid(),))


def exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """In a worker process: end it once the tool that started it is gone (kill -9, or a SIGTERM that ends the tool
    at once), instead of leaving it blocked forever on a queue nobody feeds."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run_in_order(
    executor: Executor,
    fn: Callable[[T], Any],
    todo: Iterable[tuple[str, T]],
    window: int,
    handle: Callable[[str, Callable[[], Any]], None],
    reached: Callable[[], bool],
) -> None:
    """Submit at most `window` items ahead; hand each `(key, future.result)` to `handle` in input order.

    Stops submitting, and cancels what is queued, once `reached()`; on any exception (Ctrl-C, a sink
    error) cancels what is queued rather than wait for work that will be thrown away.
    """
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
    except BaseException:
        for _, future in pending:
            future.cancel()
        raise


def _submit(executor: Executor, fn, item) -> Future:
    if isinstance(item, Invalid):
        future: Future = Future()
        future.set_exception(item.error)
        return future
    return executor.submit(call_item, fn, item)
