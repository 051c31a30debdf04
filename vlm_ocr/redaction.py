"""Secrets never leave in what the tools write or print: the values of secret environment variables (API keys,
tokens, passwords) are replaced by their variable's name, in files (pages.files' writes, the runner's records) and
on stdout/stderr (logs, progress, tracebacks), whatever echoes them (a server that quotes the key in its error)."""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
MIN_SECRET_CHARS = 8  # shorter values (a test's "testing", a flag "1") would blank out ordinary text


def secrets() -> list[tuple[str, str]]:
    """(value, variable name) of each secret environment variable, longest value first."""
    found = {
        value: name
        for name, value in os.environ.items()
        if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_CHARS and not value.isspace()
    }
    return sorted(found.items(), key=lambda item: -len(item[0]))


def redact(text: str) -> str:
    """`text` with every secret value replaced by `<NAME>`."""
    for value, name in secrets():
        if value in text:
            text = text.replace(value, f"<{name}>")
    return text


def redact_bytes(data: bytes) -> bytes:
    for value, name in secrets():
        encoded = value.encode()
        if encoded in data:
            data = data.replace(encoded, f"<{name}>".encode())
    return data


class RedactingStream:
    """A text stream that writes through `redact` to the stream it wraps (everything else is the wrapped one's)."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def redacted_output() -> Iterator[None]:
    """stdout and stderr redacted for the block (logging, tqdm and print all write through them)."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(stdout), RedactingStream(stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def redacting_excepthook(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    """sys.excepthook of the command-line entry points: a bug's traceback, redacted."""
    sys.stderr.write(redact("".join(traceback.format_exception(kind, error, trace))))
