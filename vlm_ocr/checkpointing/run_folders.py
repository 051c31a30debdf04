"""The folders a run writes, claimed before any work: each checked writable, and for fit locked against a second fit.

The lock is `flock` on an open file in the folder: the kernel drops it when the process ends, however it ends
(kill -9 included), so a killed run never leaves a lock behind and no stale-lock cleanup is needed.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from vlm_ocr.errors import UsageError
from vlm_ocr.pages.files import check_writable_folder

LOCK_NAME = ".vlm_ocr-fit.lock"  # `.<folder>.vlm_ocr-fit.lock` beside the folder it locks


def lock_file(folder: Path) -> Path:
    """The lock of a folder, beside it (inside, it would make a checkpoint folder "not empty" to Lightning)."""
    return folder.with_name(f".{folder.name}{LOCK_NAME}")


@contextmanager
def fit_lock(folder: Path, option: str) -> Iterator[None]:
    """Hold the fit lock of `folder` for the block; UsageError at once when another live fit holds it."""
    handle = open(lock_file(folder), "a+")  # noqa: SIM115 - held open for the whole fit: that is the lock
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UsageError(
                f"{option} {folder}: another fit ({holder}) is running in this run folder; wait for it to end, "
                "or give this run its own --trainer.default_root_dir and checkpoint folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def run_folders(trainer: Any, subcommand: str) -> list[tuple[Path, str]]:
    """(folder, the option that sets it) of everything this subcommand writes: the run folder, the logger's, each
    checkpoint callback's (fit) and each prediction writer's (predict)."""
    folders = [(Path(trainer.default_root_dir), "--trainer.default_root_dir")]
    for logger in trainer.loggers:
        save_dir = getattr(logger, "save_dir", None)
        if save_dir:
            folders.append((Path(save_dir), "--trainer.logger.init_args.save_dir"))
    for callback in trainer.callbacks:
        if subcommand == "fit" and getattr(callback, "dirpath", None) and hasattr(callback, "save_top_k"):
            folders.append((Path(callback.dirpath), f"{type(callback).__name__} dirpath"))
        if subcommand == "predict" and getattr(callback, "out_dir", None) and hasattr(callback, "write_on_batch_end"):
            folders.append((Path(callback.out_dir), f"{type(callback).__name__} out_dir"))
    unique: dict[Path, str] = {}
    for folder, option in folders:
        unique.setdefault(folder.absolute(), option)
    return [(folder, option) for folder, option in unique.items()]


@contextmanager
def claimed_run_folders(trainer: Any, subcommand: str) -> Iterator[None]:
    """Check every folder the run writes before anything is indexed or loaded; a fit also holds the lock of its run
    folder and checkpoint folders, so a second fit into them stops at once instead of corrupting the first."""
    if not trainer.is_global_zero:  # the other ranks write through rank 0's folders
        yield
        return
    folders = run_folders(trainer, subcommand)
    for folder, option in folders:
        check_writable_folder(folder, option)
    with ExitStack() as locks:
        if subcommand == "fit":
            for folder, option in folders[:1] + [f for f in folders if "dirpath" in f[1]]:
                locks.enter_context(fit_lock(folder, option))
        try:
            yield
        except BaseException:
            _remove_if_empty(trainer)
            raise


def _remove_if_empty(trainer: Any) -> None:
    """A run that failed leaves no empty `version_N` folder behind (one holding a data report stays)."""
    log_dir = Path(trainer.log_dir) if trainer.logger is not None and trainer.log_dir else None
    if log_dir is not None and log_dir.is_dir() and not any(log_dir.iterdir()):
        log_dir.rmdir()
