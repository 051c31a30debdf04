"""What a data tool's per-item function returns (`Outputs`, `Link`) and how it is written: atomically, in order."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vlm_ocr.pages.files import atomic_write_bytes, atomic_write_text


@dataclass(frozen=True)
class Link:
    """An output that is a symlink to `target`; written relative, so a moved output tree keeps working."""

    target: Path


# Relative path under out_dir -> content. Written in order, each atomically: put the file that marks
# the item as done (the `key`) last, so a kill in between leaves the item to be redone, never half-done.
Outputs = dict[str, bytes | str | Link]


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
