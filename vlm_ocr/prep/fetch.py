"""HTTP downloads with ONE retry policy (back-off on 429/5xx and connection errors) and a hard size cap.

`retrying` is that policy for any call (the chat requests of mine_html_pages use it too).

Retries are tenacity's; the size cap, Retry-After and the temporary file renamed at the end are ours,
because urllib3's `Retry` cannot take an injected sleep and neither library caps a streamed body.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from tenacity.retry import retry_base

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How a download is retried; the same policy serves every tool."""

    attempts: int = 5
    """Tries in all, the first included."""
    backoff_s: float = 2.0
    """Sleep before the second try; doubled for each further try."""
    max_backoff_s: float = 60.0
    """Cap on one sleep, also on a server's Retry-After."""
    timeout_s: float = 60.0
    """Connect and read timeout of one try."""


DEFAULT_RETRY = RetryPolicy()


class DownloadError(RuntimeError):
    """A download that failed for good (after retries, or at once for a non-retryable answer)."""


class DownloadTooLarge(DownloadError):
    """The body exceeds the size cap; never retried."""


class _Retry(Exception):
    def __init__(self, message: str, retry_after: float | None):
        super().__init__(message)
        self.retry_after = retry_after


def download(
    url: str,
    dest: str | Path,
    *,
    max_bytes: int | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Stream `url` into `dest` (via a temporary file renamed at the end) and return its size in bytes."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    retry = retry_if_exception_type((_Retry, requests.RequestException))
    attempts = retrying(policy, retry, url, DownloadError, sleep=sleep)
    return attempts(_get_once, session or requests, url, dest, max_bytes, policy.timeout_s)


def retrying(
    policy: RetryPolicy,
    retry: retry_base,
    what: str,
    give_up: Callable[[str], Exception],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """Tenacity's `Retrying` under `policy` for the errors `retry` accepts: exponential back-off, or the server's
    Retry-After (an error's `retry_after`, or the header of its `response`), each try logged; after the last,
    `give_up("<what>: failed after N tries: <error>")` is raised."""
    backoff = wait_exponential(multiplier=policy.backoff_s, max=policy.max_backoff_s)

    def wait(state: RetryCallState) -> float:
        retry_after = _retry_after_of(state.outcome.exception())
        return min(retry_after, policy.max_backoff_s) if retry_after is not None else backoff(state)

    def log_retry(state: RetryCallState) -> None:
        tries, err, delay = f"{state.attempt_number}/{policy.attempts}", state.outcome.exception(), state.upcoming_sleep
        logger.info("%s: try %s failed (%s); retrying in %.1fs", what, tries, err, delay)

    def stop(state: RetryCallState) -> None:
        raise give_up(f"{what}: failed after {state.attempt_number} tries: {state.outcome.exception()}") from None

    return Retrying(
        sleep=sleep,
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry,
        before_sleep=log_retry,
        retry_error_callback=stop,
    )


def _retry_after_of(err: BaseException | None) -> float | None:
    if getattr(err, "retry_after", None) is not None:
        return err.retry_after  # type: ignore[union-attr]
    headers = getattr(getattr(err, "response", None), "headers", None)
    return _retry_after(headers.get("Retry-After")) if headers is not None else None


def _get_once(getter, url: str, dest: Path, max_bytes: int | None, timeout_s: float) -> int:
    with getter.get(url, stream=True, timeout=timeout_s) as response:
        if response.status_code in RETRYABLE_STATUS:
            raise _Retry(f"HTTP {response.status_code}", _retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 400:
            raise DownloadError(f"{url}: HTTP {response.status_code} (not retried)")
        return _stream_to(response, dest, url, max_bytes)


def _stream_to(response: requests.Response, dest: Path, url: str, max_bytes: int | None) -> int:
    declared = response.headers.get("Content-Length")
    if max_bytes is not None and declared and declared.isdigit() and int(declared) > max_bytes:
        raise DownloadTooLarge(f"{url}: {declared} bytes declared, over the {max_bytes}-byte limit")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    size = 0
    try:
        with open(tmp, "wb") as handle:
            for chunk in response.iter_content(CHUNK_BYTES):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise DownloadTooLarge(f"{url}: body exceeds the {max_bytes}-byte limit")
                handle.write(chunk)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
