"""The data folders a run reads, checked before any work: a missing one is named with its option and the fix."""

from __future__ import annotations

from pathlib import Path

from vlm_ocr.errors import UsageError


def resolve_root(data_root: str | None, root: str) -> str:
    """A root as read: relative ones under `data_root` when it is set."""
    return str(Path(data_root) / root) if data_root and not Path(root).is_absolute() else root


def check_roots(data_root: str | None, option: str, roots: list[str]) -> None:
    """Raise UsageError when `data_root` or one of `roots` (relative ones resolved against it) is not a folder."""
    if data_root and not Path(data_root).is_dir():
        raise UsageError(
            f"--data.data_root {data_root}: no such folder; set --data.data_root to the folder that holds "
            f"{', '.join(roots[:3]) or 'the data roots'}"
        )
    for root in roots:
        if Path(resolve_root(data_root, root)).is_dir():
            continue
        relative = not Path(root).is_absolute()
        where = f" under --data.data_root {data_root}" if data_root and relative else ""
        hint = " (set --data.data_root to the folder that holds it)" if not data_root else ""
        raise UsageError(f"--data.{option}: {root}: no such folder{where}{hint}")
