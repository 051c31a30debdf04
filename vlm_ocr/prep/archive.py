"""Safe tar extraction: only regular files and folders, and never a path outside the destination."""

from __future__ import annotations

import tarfile
from pathlib import Path


class UnsafeArchiveError(ValueError):
    """An archive member that would land outside the destination, or is not a plain file or folder."""


def extract_tar(archive: str | Path, dest: str | Path) -> int:
    """Extract every member of a (compressed) tar under `dest`; return the number of files written.

    Members are checked one by one as the archive streams: absolute names, `..`, links and device
    files raise UnsafeArchiveError before anything is written for that member. Python's `data`
    extraction filter is applied as well.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written = 0
    with tarfile.open(archive, mode="r:*") as tar:
        for member in tar:
            target = (root / member.name).resolve()
            if member.name.startswith("/") or (target != root and root not in target.parents):
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} escapes the destination")
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a link or special file")
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)  # tarballs may be extracted side by side in parallel
            tar.extract(member, root, filter="data")
            written += 1
    return written
