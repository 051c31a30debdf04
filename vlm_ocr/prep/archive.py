"""Safe tar extraction: only regular files and folders, and never a path outside the destination."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path


class UnsafeArchiveError(ValueError):
    """An archive member that would land outside the destination, or is not a plain file or folder."""


def extract_tar(archive: str | Path, dest: str | Path) -> int:
    """Extract every member of a (compressed) tar under `dest`, all or nothing; return the number of files.

    Members are checked one by one as the archive streams: absolute names, `..`, links and device
    files raise UnsafeArchiveError (Python's `data` extraction filter is applied as well). Files go
    to a hidden staging folder first and are moved into `dest` only once the whole archive passed,
    so a rejected or broken archive leaves nothing of itself behind.
    """
    dest = Path(dest)
    root = dest.resolve()
    staging = dest / f".extracting-{Path(archive).name}"
    shutil.rmtree(staging, ignore_errors=True)  # left over by a killed run
    staging.mkdir(parents=True)
    try:
        names = _extract_checked(archive, staging.resolve(), root)
        for name in names:  # renames within one file system: cheap, and each file appears whole
            (dest / name).parent.mkdir(parents=True, exist_ok=True)  # tarballs may be extracted side by side
            os.replace(staging / name, dest / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(names)


def _extract_checked(archive: str | Path, staging: Path, root: Path) -> list[str]:
    names = []
    with tarfile.open(archive, mode="r:*") as tar:
        for member in tar:
            target = (root / member.name).resolve()
            if member.name.startswith("/") or (target != root and root not in target.parents):
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} escapes the destination")
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a link or special file")
            if member.isfile():
                tar.extract(member, staging, filter="data")
                names.append(target.relative_to(root).as_posix())
    return list(dict.fromkeys(names))  # a member repeated in the archive: its last copy wins, as with tar
