"""Checks of a data tool's input paths: the path, or an `InputError` naming the option, the path and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vlm_ocr.errors import InputError


def require_dir(path: str | Path, option: str, fix: str = "pass an existing folder") -> Path:
    """`path` if it is a local folder, else an InputError naming the option and the path."""
    return _require(Path(path).expanduser(), Path.is_dir, "folder", "file", option, fix)


def require_file(path: str | Path, option: str, fix: str = "pass an existing file") -> Path:
    """`path` if it is a local file, else an InputError naming the option and the path."""
    return _require(Path(path).expanduser(), Path.is_file, "file", "folder", option, fix)


def _require(path: Path, is_kind: Callable[[Path], bool], kind: str, other: str, option: str, fix: str) -> Path:
    if not is_kind(path):
        state = f"is a {other}, not a {kind}" if path.exists() else "does not exist"
        raise InputError(f"{option} {path}: {state}", fix)
    return path
