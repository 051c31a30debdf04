"""Atomic file writes (a reader sees the old file or the new one, never a torn one), and output paths checked
before any work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vlm_ocr.errors import UsageError
from vlm_ocr.redaction import redact_bytes


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync it, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
        with os.fdopen(fd, "wb") as handle:
            handle.write(redact_bytes(data))  # no secret in any file written (a server's error quoting the key)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def check_writable_folder(folder: str | Path, option: str) -> None:
    """Create `folder` if needed and write a probe file in it; a UsageError naming `option` when that fails (a
    file in the way, a read-only filesystem, no permission), before a command does any work."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "" if existing == folder else f" {existing}"
        raise UsageError(f"{option} {folder}:{where} is a file, not a folder; give a folder (new or existing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else str(err)
        raise UsageError(
            f"{option} {folder}: cannot write there ({reason}); choose a folder this user can write"
        ) from None


def check_output_file(path: str | Path, option: str) -> None:
    """A UsageError naming `option` when `path` cannot become a file: a folder, or in a folder that cannot be
    written."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name, e.g. {path / 'samples.jsonl'}")
    check_writable_folder(path.parent, option)
