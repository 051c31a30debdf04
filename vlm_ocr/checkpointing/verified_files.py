"""Checkpoint files that are either complete and verified or absent: temp file + fsync + rename, a checksum
record beside each one; a corrupt or partial checkpoint is reported and the newest valid one beside it used.
Only torch is imported here, so short-lived tools and tests load it quickly."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
import zlib
from pathlib import Path
from typing import Any

import torch

from vlm_ocr.errors import UsageError

logger = logging.getLogger(__name__)

RECORD_SUFFIX = ".sum.json"  # beside a checkpoint file: size, CRC32 and step
MANIFEST = "vlm_ocr_manifest.json"  # inside a sharded checkpoint folder: the same for every file
TEMP_MARK = ".tmp-"
RUN_KEY = "vlm_ocr_run"  # in a checkpoint: the id of the run that wrote it (kept across resumes)


class CorruptCheckpoint(UsageError, RuntimeError):
    """A checkpoint that is truncated, altered or was never finished."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (the disk is full, a quota is hit, ...); the older ones are untouched."""


def record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_crc(path: Path, chunk: int = 16 << 20) -> tuple[int, int]:
    """(bytes, CRC32) of a file."""
    crc, size = 0, 0
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            crc, size = zlib.crc32(block, crc), size + len(block)
    return size, crc


class _ChecksumWriter:
    """A write-only file wrapper that keeps the CRC32 and size of what went through it."""

    def __init__(self, handle: Any):
        self.handle, self.crc, self.size = handle, 0, 0
        self.error: OSError | None = None  # torch.save turns a failed write into a RuntimeError: keep the cause

    def write(self, data: bytes) -> int:
        try:
            written = self.handle.write(data)
        except OSError as error:
            self.error = error
            raise
        view = memoryview(data)[:written]
        self.crc, self.size = zlib.crc32(view, self.crc), self.size + written
        return written

    def flush(self) -> None:
        self.handle.flush()


def write_error(path: Path, error: OSError) -> CheckpointWriteError:
    """A clear message for a failed checkpoint write, with the free space when the disk is the cause."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        free = shutil.disk_usage(path.parent).free
        reason += f" ({free / 2**20:.1f} MiB free on the checkpoint folder's filesystem)"
    return CheckpointWriteError(
        error.errno or 0,
        f"checkpoint {path} was not written: {reason}. Earlier checkpoints are untouched; free space or point "
        "the checkpoint folder elsewhere, then resume with --ckpt_path last",
    )


def _write_json(data: dict[str, Any], temp: Path, path: Path) -> None:
    with open(temp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(record_path(path).read_text())
    except (OSError, ValueError):
        return None


def save_verified(checkpoint: dict[str, Any], path: str | Path) -> None:
    """torch.save to a temp file with fsync, then rename it into place; its checksum record is written so that
    the file at `path` matches the record at every instant, whenever the process dies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for temp_file in path.parent.glob(f".{path.name}*{TEMP_MARK}*"):
        if _writer_is_gone(temp_file.name):  # left by a process killed mid-save; a live writer's file stays
            temp_file.unlink(missing_ok=True)
    temp = path.with_name(f".{path.name}{TEMP_MARK}{_writer_id()}")
    temp_record = path.with_name(f".{path.name}{RECORD_SUFFIX}{TEMP_MARK}{_writer_id()}")
    writer: _ChecksumWriter | None = None
    try:
        with open(temp, "wb") as handle:
            writer = _ChecksumWriter(handle)
            torch.save(checkpoint, writer)
            handle.flush()
            os.fsync(handle.fileno())
        record = {
            "bytes": writer.size,
            "crc32": f"{writer.crc:08x}",
            "global_step": checkpoint.get("global_step"),
            "epoch": checkpoint.get("epoch"),
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **checkpoint_identity(checkpoint),
        }
        old = _read_record(path) if path.exists() else None
        if old is not None:  # until the rename, the file in place is the old one: the record admits both
            _write_json(
                {**record, "previous": {k: old[k] for k in ("bytes", "crc32", "global_step")}},
                temp_record,
                record_path(path),
            )
        os.replace(temp, path)
        _write_json(record, temp_record, record_path(path))
        fsync_dir(path.parent)
    except BaseException as error:
        temp.unlink(missing_ok=True)
        temp_record.unlink(missing_ok=True)
        cause = error if isinstance(error, OSError) else writer.error if writer else None
        if cause is None:
            raise
        raise write_error(path, cause) from error


def _writer_id() -> str:
    return f"{os.uname().nodename}-{os.getpid()}"


def _writer_is_gone(temp_name: str) -> bool:
    """Whether the process that named this temporary file has ended: a pid of this host that no longer runs (the
    files of other hosts, and of names this code did not make, are left alone)."""
    host, _, pid = temp_name.rpartition(TEMP_MARK)[2].rpartition("-")
    if host != os.uname().nodename or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def verify(path: Path) -> dict[str, Any]:
    """Check a checkpoint file or sharded folder against its checksums; returns its record, raises CorruptCheckpoint."""
    if path.is_dir():
        manifest = path / MANIFEST
        if not manifest.is_file():
            raise CorruptCheckpoint(f"{path}: sharded checkpoint without {MANIFEST} (its save never finished)")
        record = json.loads(manifest.read_text())
        for name, (size, crc) in record["files"].items():
            _check_file(path / name, [(size, crc)])
        return record
    if not path.is_file():
        raise CorruptCheckpoint(f"{path}: no such checkpoint")
    if not record_path(path).is_file():
        _check_structure(path)
        logger.warning("%s has no checksum record (not written by vlm_ocr): checked its structure only", path)
        return {}
    record = _read_record(path)
    if record is None:
        raise CorruptCheckpoint(f"{record_path(path)}: unreadable checksum record")
    versions = [record, *([record["previous"]] if "previous" in record else [])]
    return versions[_check_file(path, [(v["bytes"], v["crc32"]) for v in versions])]


def _check_file(path: Path, expected: list[tuple[int, str]]) -> int:
    """Index of the (bytes, crc32) in `expected` that the file matches; CorruptCheckpoint if none."""
    if not path.is_file():
        raise CorruptCheckpoint(f"{path}: missing")
    actual = path.stat().st_size
    sizes = [size for size, _ in expected]
    if actual not in sizes:
        raise CorruptCheckpoint(f"{path}: {actual} bytes, the save wrote {sizes[0]} (truncated or partial)")
    crc = f"{file_crc(path)[1]:08x}"
    for i, (size, expected_crc) in enumerate(expected):
        if size == actual and crc == expected_crc:
            return i
    raise CorruptCheckpoint(f"{path}: checksum mismatch (the file changed after it was written)")


def _check_structure(path: Path) -> None:
    try:
        torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, ... on a bad zip
        raise CorruptCheckpoint(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from error


def checkpoint_candidates(folder: Path) -> list[Path]:
    """Checkpoint files and sharded folders in `folder`, newest training step first (temp files excluded)."""

    def step(path: Path) -> tuple[int, float]:
        record = path / MANIFEST if path.is_dir() else record_path(path)
        try:
            value = json.loads(record.read_text()).get("global_step")
        except (OSError, ValueError):
            value = None
        return (value if isinstance(value, int) else -1, path.stat().st_mtime)

    found = [
        p
        for p in folder.iterdir()
        if TEMP_MARK not in p.name and (p.suffix == ".ckpt" or (p.is_dir() and (p / MANIFEST).exists()))
    ]
    return sorted(found, key=step, reverse=True)


def checkpoint_identity(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The run and the model a checkpoint belongs to, as its record keeps them (empty when it says neither)."""
    identity = {"run": checkpoint.get(RUN_KEY), "model": (checkpoint.get("hyper_parameters") or {}).get("pretrained")}
    return {key: value for key, value in identity.items() if value is not None}


def _identity(path: Path) -> dict[str, Any] | None:
    """The run and model a checkpoint's record names ({} for a record older than these fields), None without a
    readable record (a file vlm_ocr did not write, or whose record is lost): nothing is known of its run."""
    try:
        record = json.loads((path / MANIFEST if path.is_dir() else record_path(path)).read_text())
    except (OSError, ValueError):
        return None
    return {key: record[key] for key in ("run", "model") if key in record}


def usable_checkpoint(path: Path, fallback: bool = True) -> Path:
    """`path` if it verifies; else (when `fallback`) the newest valid checkpoint beside it of the same run and model
    (as the records of both say), said loudly; a checkpoint whose record names no run gets no stand-in."""
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        verify(path)
        return path
    except CorruptCheckpoint as error:
        logger.error("checkpoint %s is unusable: %s", path, error)
        if not fallback:
            raise
        wanted = _identity(path)
        if wanted is None:
            raise CorruptCheckpoint(
                f"{error}; no record says which run wrote it, so no other checkpoint stands in for it: give a valid "
                "checkpoint of this run, or `last`"
            ) from error
        for candidate in checkpoint_candidates(path.parent):
            if candidate.resolve() == path.resolve() or _identity(candidate) != wanted:
                continue
            try:
                record = verify(candidate)
            except CorruptCheckpoint as other:
                logger.error("skipping checkpoint %s too: %s", candidate, other)
                continue
            logger.warning(
                "resuming from %s instead: the newest valid checkpoint of the same run as %s (%s, step %s)",
                candidate,
                path.name,
                ", ".join(f"{key} {value}" for key, value in wanted.items()),
                record.get("global_step"),
            )
            return candidate
        raise CorruptCheckpoint(f"{error}; and no other valid checkpoint of the same run in {path.parent}") from error
