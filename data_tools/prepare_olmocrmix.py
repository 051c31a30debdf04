"""Hugging Face olmOCR-mix (parquet + PDF tarballs, hub id or local folder) -> an md/pdf pair tree."""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

from vlm_ocr.errors import InputError, as_input_error
from vlm_ocr.pages.files import atomic_write_text
from vlm_ocr.pages.front_matter import format_page_markdown
from vlm_ocr.prep.archive import extract_tar
from vlm_ocr.prep.olmocrmix import (
    MIX_0225,
    MIX_0225_PARQUETS,
    MIX_1025,
    dataset_tag,
    doc_stem,
    iter_rows,
    member_name,
    response_from_row,
    row_count,
)
from vlm_ocr.prep.runner import DEFAULT_RUN, Link, RunArgs, check_writable_folder, map_items
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
TOOL = "prepare_olmocrmix"


def extract(tarball: Path, extracted: Path) -> dict[str, str]:
    """Extract one tarball; the `.done/<name>` marker (written last) makes a rerun skip it."""
    count = extract_tar(tarball, extracted)
    return {f".done/{tarball.name}": f"{count}\n"}


def convert(row: dict[str, Any], extracted: Path, flat_0225: bool) -> dict:
    """One parquet row -> `<stem>.pdf` (a link into the extracted tarballs) then `<stem>.md`."""
    stem = doc_stem(str(row["id"]), flat_0225)
    pdf = extracted / member_name(row)
    if not pdf.is_file():
        raise FileNotFoundError(f"PDF {pdf.name} is not in the extracted tarballs")
    page = response_from_row(row)
    return {f"{stem}.pdf": Link(pdf), f"{stem}.md": format_page_markdown(page)}


def local_dataset(dataset_path: str) -> Path | None:
    """The local folder `dataset_path` names, None for a hub id (`name` or `owner/name`, not a path here).

    A path-like value that is not a folder is an error, never sent to the hub as an id.
    """
    path = Path(dataset_path).expanduser()
    first = Path(dataset_path.split("/", 1)[0]).expanduser()
    path_like = dataset_path.startswith(("/", ".", "~")) or dataset_path.count("/") > 1 or first.is_dir()
    if path.is_dir():
        return path
    if path.exists() or path_like:
        raise InputError(
            f"--dataset_path {dataset_path}: no such folder",
            f"pass the folder holding the parquet and pdf_tarballs/, or a hub id such as {MIX_1025}",
        )
    return None


def fetch_dataset(dataset_path: str, tag: str, destination: Path) -> Path:
    """A local dataset folder is used in place; a hub id downloads only this tag's files."""
    if (local := local_dataset(dataset_path)) is not None:
        return local
    from huggingface_hub import snapshot_download

    if dataset_path == MIX_0225:
        patterns = None
    else:  # exact names: `<tag>_*` would also match e.g. `<tag>_s2pdf_*` of another split
        patterns = [f"{tag}.parquet", f"pdf_tarballs/{tag}_[0-9]*.tar.gz", "README.md", "*.json"]
    local = destination / "hugging_face"
    try:
        snapshot_download(dataset_path, repo_type="dataset", local_dir=local, allow_patterns=patterns)
    except Exception as err:
        if not isinstance(bad := as_input_error(err), InputError):
            raise
        raise InputError(f"--dataset_path {dataset_path}: {bad.what}", bad.fix) from err
    return local


def write_urls(parquet: Path, out_dir: Path, flat_0225: bool) -> int:
    """urls.jsonl for the pages present in `out_dir`, sorted by id; non-string URLs (NaN, null) are left out."""
    lines = []
    for row in iter_rows(parquet, columns=["id", "url"]):
        url = row.get("url")
        if isinstance(url, str) and url.strip():
            try:
                present = (out_dir / f"{doc_stem(str(row['id']), flat_0225)}.md").exists()
            except ValueError:
                continue
            if present:
                lines.append((str(row["id"]), json.dumps({"id": str(row["id"]), "url": url})))
    atomic_write_text(out_dir / "urls.jsonl", "".join(line + "\n" for _, line in sorted(lines)))
    return len(lines)


def main(
    *,
    dataset_path: str = MIX_1025,
    subset: str | None = None,
    split: str | None = None,
    destination: Path,
    max_examples: int | None = None,
    run: RunArgs = DEFAULT_RUN,
) -> int:
    """Materialise one subset/split of an olmOCR-mix dataset as `<destination>/processed_<subset>_<split>/`.

    Args:
        dataset_path: Hugging Face dataset id (default the mix of the olmOCR-2 recipe), or a local folder
            with the same layout (used in place).
        subset: Subset, e.g. `00_documents`, `01_books`, `02_loc_transcripts`, `03_national_archives`.
        split: Split, e.g. `train`, `eval` (0225: `train_s2pdf`, `eval_s2pdf`, `train_iabooks`, `eval_iabooks`).
        destination: Output root (downloads, extracted tarballs and the processed tree go here).
        max_examples: Stop after this many pages are written (or already present); 0 writes none.
        run: Common data-tool flags.
    """
    config = dict(locals())
    if not subset or not split:
        raise InputError("--subset and --split are required", "e.g. --subset 00_documents --split train")
    tag = dataset_tag(subset, split)
    local_0225 = Path(dataset_path, MIX_0225_PARQUETS.get((subset, split), "-")).is_file()  # a local copy of 0225
    flat_0225 = dataset_path == MIX_0225 or local_0225
    if flat_0225 and (subset, split) not in MIX_0225_PARQUETS:
        raise InputError(f"{MIX_0225} has no {subset}/{split}", f"choose one of {sorted(MIX_0225_PARQUETS)}")
    destination = destination.resolve()  # links are made from absolute paths, whatever the cwd
    check_writable_folder(destination, "--destination")  # before the download
    source = fetch_dataset(dataset_path, tag, destination)
    parquet = source / (MIX_0225_PARQUETS[(subset, split)] if flat_0225 else f"{tag}.parquet")
    if not parquet.is_file():
        raise InputError(f"{parquet}: not found", f"check --subset/--split against the files of {dataset_path}")
    tar_dir = source / "pdf_tarballs"
    globs = ["*.tar*", "*.tgz"] if flat_0225 else [f"{tag}_*.tar*", f"{tag}_*.tgz"]
    tarballs = sorted({p for g in globs for p in tar_dir.glob(g)}) if tar_dir.is_dir() else []
    extracted = destination / "hugging_face" / "pdf_tarballs" / "extracted"
    map_items(
        partial(extract, extracted=extracted),
        tarballs,
        extracted,
        run,
        tool=TOOL,
        pool="process",
        key=lambda tarball: f".done/{tarball.name}",
        stage="extract",
        config=config,
    )
    out_dir = destination / f"processed_{tag}"
    counts = map_items(
        partial(convert, extracted=extracted, flat_0225=flat_0225),
        iter_rows(parquet),
        out_dir,
        run,
        tool=TOOL,
        key=lambda row: f"{doc_stem(str(row['id']), flat_0225)}.md",
        stop_after=max_examples,
        total=row_count(parquet),
        config=config,
    )
    logger.info("urls.jsonl: %d mappings", write_urls(parquet, out_dir, flat_0225))
    return 1 if counts.failed else 0


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
