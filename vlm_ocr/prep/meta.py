"""Provenance of a data-tool run: `_meta.json` with the tool, its arguments, git SHA, times and counts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

from vlm_ocr.pages.files import atomic_write_text


def write_meta(path: Path, tool: str, config: dict[str, Any], counts: Any, started: str) -> None:
    """Provenance next to the outputs: tool, arguments, git SHA, times and counts."""
    meta = {
        "tool": tool,
        "args": jsonable(config),
        "git_sha": git_sha(),
        "started": started,
        "finished": now_iso(),
        "counts": counts if isinstance(counts, dict) else counts.as_dict(),
    }
    atomic_write_text(path, json.dumps(meta, indent=2, sort_keys=False) + "\n")


def jsonable(value: Any) -> Any:
    """Arguments as JSON: dataclasses as dicts, paths as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
