"""The output folder: refused when it exists (unless overwriting), staged beside it, renamed into place at the end."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def check_target(out: Path, overwrite: bool) -> None:
    """Fail early, before any work, when `out` cannot be written: a file, or a folder with files in it (an empty
    folder is taken)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and holds files; pass --overwrite true to replace it")


@contextmanager
def staged_folder(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yield an empty sibling folder to write into; on success it replaces `out`, on failure it is removed.

    A reader of `out` sees the old folder or the complete new one, never a half-written export.
    """
    out = Path(out).absolute()
    check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        check_target(out, overwrite)  # someone may have created it meanwhile
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old)
        else:
            staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
