"""Where a model comes from: a local folder (recorded as an absolute path) or a hub id, told apart up front."""

from __future__ import annotations

from pathlib import Path

from vlm_ocr.errors import UsageError


def looks_local(name: str) -> bool:
    """A path rather than a hub id (`org/name`): absolute, `./`, `~`, several folders deep, or its first folder
    exists here (`artifacts/tiny-qwen2.5-vl`)."""
    path = Path(name).expanduser()
    parts = Path(name).parts
    return (
        path.is_absolute()
        or name.startswith((".", "~"))
        or len(parts) > 2
        or (len(parts) == 2 and Path(parts[0]).is_dir())
    )


def resolve_pretrained(name: str, option: str) -> str:
    """A local folder as an absolute path, a hub id unchanged; a local-looking path that does not exist fails at
    once (instead of minutes of hub retries) with a message naming `option`."""
    path = Path(name).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():  # transformers would build the full default model
        raise UsageError(
            f"{option} {name}: no config.json in this folder; give a model folder (save_pretrained's output, or "
            "python -m vlm_ocr make-tiny-model FOLDER) or a hub id"
        )
    if path.is_dir():
        return str(path.resolve())
    if path.exists():
        raise UsageError(f"{option} {name}: is a file; give the model folder (the one with config.json) or a hub id")
    if looks_local(name):
        raise UsageError(
            f"{option} {name}: no such folder; give an existing model folder or a hub id "
            "(the tiny test model: python -m vlm_ocr make-tiny-model FOLDER)"
        )
    return name
