"""One file-system layer for the data tools: local paths, `s3://bucket/key` (boto3) and read-only http(s) files.

The S3 client is made on first use in each process (never at import); the endpoint comes from the
standard `AWS_ENDPOINT_URL` variable, which is how tests point it at a local S3-compatible server.
Not fsspec/s3fs: s3fs pins a botocore older than boto3's floor (1.43 < 1.44.5), and fsspec's http has
no size cap; so S3 is boto3 (its own retries, managed downloads) and http is `fetch.download`. S3 globs
use fsspec's `glob_translate`.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from fsspec.utils import glob_translate

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


@functools.cache
def _s3_client(pid: int):
    import boto3  # imported lazily: only tools that touch s3:// need it

    return boto3.client("s3")


def s3_client():
    """The process's S3 client (one per process: boto3 clients are thread-safe but not fork-safe)."""
    return _s3_client(os.getpid())


def exists(path: str | Path) -> bool:
    if is_s3(path):
        bucket, key = split_s3(str(path))
        response = s3_client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return any(
            obj["Key"] == key or obj["Key"].startswith(key.rstrip("/") + "/") for obj in response.get("Contents", [])
        )
    if is_http(path):
        return True
    return Path(path).exists()


def list_files(root: str | Path, suffix: str = "", recursive: bool = True) -> list[str]:
    """Files under a folder or prefix whose names end with `suffix`, sorted; hidden entries are skipped."""
    root = str(root)
    if is_http(root):
        return [root]
    if is_s3(root):
        bucket, prefix = split_s3(root)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        keys = [key for key in _iter_s3_keys(bucket, prefix) if key.endswith(suffix)]
        if not recursive:
            keys = [key for key in keys if "/" not in key[len(prefix) :]]
        return sorted(f"s3://{bucket}/{key}" for key in keys)
    base = Path(root)
    if base.is_file():
        return [str(base)] if base.name.endswith(suffix) else []
    if not base.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    found = base.rglob(f"*{suffix}") if recursive else base.glob(f"*{suffix}")
    return sorted(
        str(path)
        for path in found
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(base).parts)
    )


def glob_paths(pattern: str) -> list[str]:
    """Paths matching a glob (`**` allowed), sorted; for S3 the pattern is matched against every listed key."""
    if is_s3(pattern):
        bucket, key_pattern = split_s3(pattern)
        # as in local glob, `**` inside a name is a plain `*` (glob_translate refuses it there)
        key_pattern = re.sub(r"(?<=[^/])\*{2,}|\*{2,}(?=[^/])", "*", key_pattern)
        literal = re.split(r"[*?[]", key_pattern, maxsplit=1)[0]
        compiled = re.compile(glob_translate(key_pattern))
        keys = _iter_s3_keys(bucket, literal[: literal.rfind("/") + 1])
        return sorted(f"s3://{bucket}/{key}" for key in keys if compiled.match(key))
    return sorted(path for path in glob.glob(pattern, recursive=True) if os.path.isfile(path))


def _iter_s3_keys(bucket: str, prefix: str) -> Iterator[str]:
    paginator = s3_client().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def read_bytes(path: str | Path) -> bytes:
    if is_s3(path):
        bucket, key = split_s3(str(path))
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    if is_http(path):
        raise ValueError(f"{path}: use fetch.download for http(s) files (size cap and retries)")
    return Path(path).read_bytes()


def iter_lines(path: str | Path) -> Iterator[str]:
    """Text lines of a local or S3 file, streamed (S3 bodies are read in chunks, not whole)."""
    if is_s3(path):
        bucket, key = split_s3(str(path))
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        for raw in body.iter_lines(keepends=False):
            yield raw.decode("utf-8")
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield line.rstrip("\n")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write a whole file: atomically on local disk, one PUT on S3 (S3 objects appear whole or not at all)."""
    if is_s3(path):
        bucket, key = split_s3(str(path))
        s3_client().put_object(Bucket=bucket, Key=key, Body=data)
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
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            s3_client().download_file(bucket, key, str(tmp))
            if max_bytes is not None and tmp.stat().st_size > max_bytes:
                tmp.unlink()
                raise ValueError(f"{path}: larger than the {max_bytes}-byte limit")
            os.replace(tmp, dest)
        else:
            from vlm_ocr.prep.fetch import download

            download(str(path), dest, max_bytes=max_bytes)
    return dest
