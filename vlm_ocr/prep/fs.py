"""One file-system layer for the data tools: local paths, `s3://bucket/key` (fsspec/s3fs) and read-only http(s) files.

Ours where fsspec falls short: atomic local writes, http's size cap (`fetch.download`), local listing and globbing.
The S3 filesystem is made on first use in each process (s3fs is not fork-safe); its endpoint is `AWS_ENDPOINT_URL`.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import fsspec

from vlm_ocr.pages.files import atomic_write_bytes

_CACHE_LOCK = threading.Lock()
_DOWNLOAD_LOCKS: dict[str, threading.Lock] = {}


def is_s3(path: str | Path) -> bool:
    return str(path).startswith("s3://")


def is_http(path: str | Path) -> bool:
    return str(path).startswith(("http://", "https://"))


def is_remote(path: str | Path) -> bool:
    return is_s3(path) or is_http(path)


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b`)."""
    if not is_s3(uri):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"s3 URI without a bucket: {uri}")
    return bucket, key


def join(root: str | Path, rel: str) -> str:
    """Join a relative POSIX path onto a local or remote root."""
    root = str(root)
    return f"{root.rstrip('/')}/{rel}" if is_remote(root) else str(Path(root) / rel)


def relative_to(path: str, root: str) -> str:
    """`path` relative to `root` as a POSIX string (works for s3 URIs and local paths)."""
    if is_remote(root):
        prefix = root.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise ValueError(f"{path} is not under {root}")
        return path[len(prefix) :]
    rel = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root))).as_posix()
    if rel == ".." or rel.startswith("../"):
        raise ValueError(f"{path} is not under {root}")
    return rel


def common_root(paths: list[str]) -> str:
    """The deepest folder (or s3 prefix) holding every path (the root the tools name their inputs relative to)."""
    if not paths:
        return "."
    if is_s3(paths[0]):
        prefix = os.path.commonprefix(paths)
        return prefix[: prefix.rfind("/")]
    return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])


@functools.cache
def _s3_filesystem(pid: int) -> fsspec.AbstractFileSystem:
    # one per process, outside fsspec's instance cache; no listings cache, so a tool lists what it (or its
    # worker processes) just wrote
    return fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False)


def _filesystem(path: str | Path) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem that holds `path` and the path as that filesystem spells it."""
    if is_http(path):
        raise ValueError(f"{path}: use fetch.download for http(s) files (size cap and retries)")
    if is_s3(path):
        bucket, key = split_s3(str(path))
        return _s3_filesystem(os.getpid()), f"{bucket}/{key}"
    return fsspec.filesystem("file"), str(path)


@contextlib.contextmanager
def _botocore_errors() -> Iterator[None]:
    """Raise the botocore error s3fs wrapped in an OSError: it names the bucket or key for `errors.as_input_error`."""
    try:
        yield
    except OSError as err:
        botocore = sys.modules.get("botocore.exceptions")  # s3fs loads it; not loaded: not its error
        if botocore is not None and isinstance(err.__cause__, botocore.ClientError):
            raise err.__cause__ from None
        raise


def exists(path: str | Path) -> bool:
    if is_http(path):
        return True
    fs, fs_path = _filesystem(path)
    with _botocore_errors():
        return fs.exists(fs_path)


def list_files(root: str | Path, suffix: str = "", recursive: bool = True) -> list[str]:
    """Files under a folder or prefix whose names end with `suffix`, sorted; hidden entries are skipped."""
    root = str(root)
    if is_http(root):
        return [root]
    if is_s3(root):
        fs, prefix = _filesystem(root)
        prefix = prefix.rstrip("/")
        with _botocore_errors():
            found = fs.find(prefix, maxdepth=None if recursive else 1, withdirs=False)
        if found == [prefix]:  # the root is itself an object
            return [root] if root.endswith(suffix) else []
        rels = (name[len(prefix) + 1 :] for name in found)
    else:  # pathlib, not fsspec's local find: that one lists a symlinked folder as a file and returns absolute paths
        base = Path(root)
        if base.is_file():
            return [str(base)] if base.name.endswith(suffix) else []
        if not base.is_dir():
            raise FileNotFoundError(f"{root}: no such file or folder")
        found_paths = base.rglob(f"*{suffix}") if recursive else base.glob(f"*{suffix}")
        rels = (path.relative_to(base).as_posix() for path in found_paths if path.is_file())
    return sorted(
        join(root, rel) for rel in rels if rel.endswith(suffix) and not any(p.startswith(".") for p in rel.split("/"))
    )


def glob_paths(pattern: str) -> list[str]:
    """Paths matching a glob (`**` allowed), sorted."""
    if is_s3(pattern):
        fs, fs_pattern = _filesystem(pattern)
        # as in local glob, `**` inside a name is a plain `*` (fsspec refuses it there)
        fs_pattern = re.sub(r"(?<=[^/])\*{2,}|\*{2,}(?=[^/])", "*", fs_pattern)
        with _botocore_errors():
            found = fs.glob(fs_pattern, detail=True)
        return sorted(f"s3://{name}" for name, info in found.items() if info["type"] == "file")
    # the glob module, not fsspec's local glob: only it leaves hidden names out of its wildcards
    return sorted(path for path in glob.glob(pattern, recursive=True) if os.path.isfile(path))


def read_bytes(path: str | Path) -> bytes:
    fs, fs_path = _filesystem(path)
    with _botocore_errors():
        return fs.cat_file(fs_path)


def iter_lines(path: str | Path) -> Iterator[str]:
    """Text lines of a local or S3 file, streamed (S3 files are read in blocks, not whole)."""
    fs, fs_path = _filesystem(path)
    with _botocore_errors(), fs.open(fs_path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield line.rstrip("\n")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write a whole file: atomically on local disk, one PUT on S3 (S3 objects appear whole or not at all)."""
    if is_s3(path):
        fs, fs_path = _filesystem(path)
        with _botocore_errors():
            fs.pipe_file(fs_path, data)
    else:
        atomic_write_bytes(path, data)


def local_copy(path: str | Path, cache_dir: str | Path, *, max_bytes: int | None = None) -> Path:
    """A local path for `path`: itself when local, else a download cached under `cache_dir/<host or bucket>/<key>`.

    Downloads stream to a temporary file that is renamed when complete, so a killed run never leaves a
    truncated cache entry; an existing entry is reused.
    """
    if not is_remote(path):
        return Path(path)
    if is_s3(path):
        bucket, key = split_s3(str(path))
        dest = Path(cache_dir) / bucket / key
    else:
        from urllib.parse import urlparse

        parsed = urlparse(str(path))
        dest = Path(cache_dir) / parsed.netloc.replace(":", "_") / parsed.path.lstrip("/")
    with _CACHE_LOCK:
        lock = _DOWNLOAD_LOCKS.setdefault(str(dest), threading.Lock())
    with lock:
        if dest.exists():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        if is_s3(path):
            _download_s3(str(path), dest, max_bytes)
        else:
            from vlm_ocr.prep.fetch import download

            download(str(path), dest, max_bytes=max_bytes)
    return dest


def _download_s3(uri: str, dest: Path, max_bytes: int | None) -> None:
    fs, fs_path = _filesystem(uri)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with _botocore_errors():
            fs.get_file(fs_path, str(tmp))
        if max_bytes is not None and tmp.stat().st_size > max_bytes:
            raise ValueError(f"{uri}: larger than the {max_bytes}-byte limit")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
