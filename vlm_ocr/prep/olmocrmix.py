"""The published olmOCR-mix layout: parquet rows <-> PageResponse, doc_id <-> relative path, PDF tarball chunks."""

from __future__ import annotations

import json
import logging
import math
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vlm_ocr.pages.front_matter import FRONT_MATTER_KEYS, ROTATIONS, PageResponse

logger = logging.getLogger(__name__)
MIX_0225 = "allenai/olmOCR-mix-0225"
MIX_1025 = "allenai/olmOCR-mix-1025"  # the mix of the olmOCR-2 recipe (experiments/mix_1025.yaml)
MIX_0225_PARQUETS = {
    ("00_documents", "train_s2pdf"): "train-s2pdf.parquet",
    ("00_documents", "eval_s2pdf"): "eval-s2pdf.parquet",
    ("01_books", "train_iabooks"): "train-iabooks.parquet",
    ("01_books", "eval_iabooks"): "eval-iabooks.parquet",
}
PARQUET_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("page_number", pa.int64()),
        ("pdf_relpath", pa.string()),
        ("primary_language", pa.string()),
        ("is_rotation_valid", pa.bool_()),
        ("rotation_correction", pa.int64()),
        ("is_table", pa.bool_()),
        ("is_diagram", pa.bool_()),
        ("natural_text", pa.string()),
        ("extras", pa.string()),
    ]
)
_BOOL_DEFAULTS = {"is_rotation_valid": True, "is_table": False, "is_diagram": False}
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}
TAR_BLOCK = 512
TAR_RECORD = 20 * TAR_BLOCK
TAR_TAIL = 2 * TAR_BLOCK + TAR_RECORD  # end-of-archive blocks + the most record padding can add


def load_urls(root: Path) -> dict[str, str]:
    """id -> url from `<root>/urls.jsonl`; malformed lines are logged and ignored."""
    path = root / "urls.jsonl"
    if not path.is_file():
        return {}
    urls = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                entry = json.loads(line)
                urls[str(entry["id"])] = str(entry["url"])
            except (ValueError, KeyError, TypeError):
                logger.warning("%s:%d: not an {id, url} JSON line; ignored", path, number)
    return urls


def dataset_tag(subset: str, split: str) -> str:
    return f"{subset.strip()}_{split.strip()}".replace("/", "_")


def check_doc_id(doc_id: str) -> str:
    """A doc_id is a relative POSIX path (it names files): no absolute path, no `..`, no empty parts."""
    parts = doc_id.split("/")
    if not doc_id or doc_id.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\\" in doc_id:
        raise ValueError(f"unsafe doc_id {doc_id!r}")
    return doc_id


def doc_stem(doc_id: str, flat_0225: bool) -> str:
    """Relative output path without extension: `abcd/1234` for 0225's flat ids, else the id itself."""
    check_doc_id(doc_id)
    if flat_0225:
        if len(doc_id) <= 4:
            raise ValueError(f"0225 doc_id {doc_id!r} is too short to split into folder/name")
        return f"{doc_id[:4]}/{doc_id[4:]}"
    return doc_id


def iter_rows(parquet: str | Path, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Rows of a parquet file as dicts, streamed batch by batch (bounded memory)."""
    handle = pq.ParquetFile(parquet)
    names = handle.schema_arrow.names
    if "id" not in names:
        raise ValueError(f"{parquet}: no `id` column (columns: {', '.join(names)})")
    wanted = [c for c in columns if c in names] if columns else None
    for batch in handle.iter_batches(batch_size=256, columns=wanted):
        yield from batch.to_pylist()


def row_count(parquet: str | Path) -> int:
    return pq.ParquetFile(parquet).metadata.num_rows


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _as_bool(value: Any, default: bool) -> bool:
    if _is_null(value):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(int(value))
    lowered = str(value).strip().lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else default


def _json_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def response_from_row(row: dict[str, Any]) -> PageResponse:
    """A parquet row's page: `response` JSON, else the PageResponse columns, with `extras` merged over."""
    data = _json_dict(row.get("response"))
    if not data:
        data = {k: row[k] for k in (*FRONT_MATTER_KEYS, "natural_text") if k in row}
    data.update(_json_dict(row.get("extras")))
    language = data.get("primary_language")
    try:
        rotation = int(data.get("rotation_correction"))
    except (TypeError, ValueError):
        rotation = 0
    text = data.get("natural_text")
    return PageResponse(
        primary_language=None if _is_null(language) or not str(language).strip() else str(language).strip(),
        is_rotation_valid=_as_bool(data.get("is_rotation_valid"), True),
        rotation_correction=rotation if rotation in ROTATIONS else 0,
        is_table=_as_bool(data.get("is_table"), False),
        is_diagram=_as_bool(data.get("is_diagram"), False),
        natural_text=None if _is_null(text) or not str(text).strip() else str(text),
    )


def member_name(row: dict[str, Any]) -> str:
    """The PDF's name inside the extracted tarballs: from `pdf_relpath` (`<dir>/<tar>:<member>`), else `<id>.pdf`."""
    relpath = row.get("pdf_relpath")
    if isinstance(relpath, str) and ":" in relpath:
        return check_doc_id(relpath.split(":", 1)[1])
    return check_doc_id(f"{row['id']}.pdf")


def write_parquet(records: list[dict[str, Any]], path: Path, compression: str) -> None:
    """Write records with the fixed schema (typed columns: mixed types cannot reach pyarrow) atomically."""
    table = pa.Table.from_pylist(records, schema=PARQUET_SCHEMA)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        pq.write_table(table, tmp, compression=compression)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class TarChunk:
    """One tarball of the repackaged dataset: its file name and (doc_id, pdf path) members in order."""

    name: str
    members: tuple[tuple[str, str], ...]


def tar_entry_bytes(size: int, arcname: str) -> int:
    """Bytes a file takes inside an uncompressed tar: header(s) + data padded to whole blocks.

    Names of 100 bytes or more need a PAX extended header (a header block + the padded record).
    """
    name = len(arcname.encode())
    header = TAR_BLOCK if name < 100 else 2 * TAR_BLOCK + -(-(name + 64) // TAR_BLOCK) * TAR_BLOCK
    return header + -(-size // TAR_BLOCK) * TAR_BLOCK


def gzip_bound(raw: int, name: str) -> int:
    """zlib's deflateBound plus the gzip header (with file name) and trailer: the most gzip can output."""
    return raw + (raw >> 12) + (raw >> 14) + (raw >> 25) + 7 + 18 + len(name.encode()) + 1


def plan_chunks(members: list[tuple[str, str, int]], prefix: str, cap: int) -> list[TarChunk]:
    """Greedy chunks in doc_id order whose worst-case COMPRESSED size stays within `cap`."""
    chunks: list[TarChunk] = []
    current: list[tuple[str, str]] = []
    raw = TAR_TAIL

    def name(index: int) -> str:
        return f"{prefix}_{index:05d}.tar.gz"

    for doc_id, pdf, size in members:
        entry = tar_entry_bytes(size, f"{doc_id}.pdf")
        if gzip_bound(TAR_TAIL + entry, name(len(chunks))) > cap:
            raise RuntimeError(f"{doc_id}: its PDF ({size} bytes) cannot fit in a {cap}-byte tarball")
        if current and gzip_bound(raw + entry, name(len(chunks))) > cap:
            chunks.append(TarChunk(name(len(chunks)), tuple(current)))
            current, raw = [], TAR_TAIL
        current.append((doc_id, pdf))
        raw += entry
    if current:
        chunks.append(TarChunk(name(len(chunks)), tuple(current)))
    return chunks


def write_tar_chunk(chunk: TarChunk, path: Path) -> None:
    """Write a chunk (symlinks followed) to a temporary file, check the cap, rename into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tmp, "w:gz", dereference=True) as tar:
            for doc_id, pdf in chunk.members:
                tar.add(os.path.realpath(pdf), arcname=f"{doc_id}.pdf", recursive=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def tar_matches(chunk: TarChunk, path: Path) -> bool:
    """True when `path` is a readable tarball holding exactly the chunk's members with their sizes."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            found = [(m.name, m.size) for m in tar.getmembers()]
    except (OSError, tarfile.TarError, EOFError):
        return False
    return found == [(f"{doc_id}.pdf", os.path.getsize(pdf)) for doc_id, pdf in chunk.members]
