"""Library of Congress "By the People" transcription CSVs -> image-PDF + transcription pairs, one folder per CSV."""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from vlm_ocr.errors import InputError
from vlm_ocr.prep import fs
from vlm_ocr.prep.fetch import DEFAULT_RETRY, RetryPolicy
from vlm_ocr.prep.runner import Drop, RunArgs, map_items
from vlm_ocr.prep.transcripts import DEFAULT_MAX_DOWNLOAD_MB, image_pdf, transcript_markdown
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
RUN = RunArgs(workers=1)
TOOL = "prepare_loc_transcripts"
_IIIF_SIZE = re.compile(r"/full/pct:[0-9.]+/0/default\.jpg")


@dataclass(frozen=True)
class Row:
    """One CSV row that names an asset."""

    campaign: str
    asset: str
    url: str
    status: str
    transcription: str


def safe_name(asset: str) -> str:
    """Asset slug as a file name: separators replaced; over 200 chars -> first 150 + `_` + 8 hex of its MD5."""
    name = re.sub(r"[/\\:]", "_", asset)
    return name if len(name) <= 200 else f"{name[:150]}_{hashlib.md5(name.encode()).hexdigest()[:8]}"


def full_resolution(url: str) -> str:
    """Ask the IIIF server for the full-size image instead of a percentage."""
    return _IIIF_SIZE.sub("/full/full/0/default.jpg", url)


def iter_rows(csv_paths: list[str], cache_dir: Path) -> Iterator[Row]:
    """Rows with an Asset, streamed CSV by CSV (undecodable bytes dropped)."""
    csv.field_size_limit(64 * 1024 * 1024)  # transcriptions can exceed csv's 128 KiB default
    for path in csv_paths:
        campaign = Path(path.split("?")[0]).stem
        with open(fs.local_copy(path, cache_dir), encoding="utf-8", errors="ignore", newline="") as handle:
            for record in csv.DictReader(handle):
                if record.get("Asset"):
                    url, status = record.get("DownloadUrl") or "", record.get("AssetStatus") or ""
                    yield Row(campaign, record["Asset"], url, status, record.get("Transcription") or "")


def convert(row: Row, policy: RetryPolicy, max_bytes: int, front_matter: bool, language: str | None) -> dict:
    """One completed asset -> `<campaign>/<asset>.pdf` (the image, lossless) then `<campaign>/<asset>.md`."""
    if row.status != "completed":
        raise Drop(f"status {row.status or 'empty'}")
    if not row.url:
        raise ValueError("no DownloadUrl")
    stem = f"{row.campaign}/{safe_name(row.asset)}"
    pdf = image_pdf(full_resolution(row.url), policy, max_bytes)
    return {f"{stem}.pdf": pdf, f"{stem}.md": transcript_markdown(row.transcription, front_matter, language)}


def main(
    *,
    input_dir: str,
    output_dir: Path,
    csv_pattern: str = "*.csv",
    front_matter: bool = True,
    primary_language: str | None = "en",
    max_download_mb: int = DEFAULT_MAX_DOWNLOAD_MB,
    retry: RetryPolicy = DEFAULT_RETRY,
    run: RunArgs = RUN,
) -> int:
    """Download the page image of every completed asset and pair it with its transcription.

    Outputs go to `<output_dir>/<csv stem>/<asset>.{pdf,md}`; resume is per CSV (the same asset in two
    campaigns is written twice). The original's `--skip-cleanup` is gone: clean-up is clean_olmocrmix's job.

    Args:
        input_dir: Folder of CSVs (local or s3://), or the http(s) URL of one CSV.
        output_dir: Root of the pair tree.
        csv_pattern: Glob of CSV names inside input_dir (not recursive).
        front_matter: Write front matter (with `primary_language`) so pairs are trainable and cleanable;
            false writes the raw transcription as the original did.
        primary_language: Language written in the front matter (null when unknown).
        max_download_mb: Hard limit on one image download.
        retry: Retry and back-off policy of downloads (429, 5xx, connection errors).
        run: Common data-tool flags (`--run.workers` replaces the original `--parallel`).
    """
    config = dict(locals())
    try:
        csvs = [
            p for p in fs.list_files(input_dir, ".csv", recursive=False) if fnmatch.fnmatch(Path(p).name, csv_pattern)
        ]
    except FileNotFoundError:
        csvs = []
    if not csvs:
        raise InputError(
            f"--input_dir {input_dir}: no CSV file matching --csv_pattern {csv_pattern}",
            "pass the folder, s3:// prefix or URL of the LoC CSV exports",
        )
    convert_row = partial(
        convert,
        policy=retry,
        max_bytes=max_download_mb * 1024 * 1024,
        front_matter=front_matter,
        language=primary_language,
    )
    with tempfile.TemporaryDirectory(prefix="loc-") as cache:
        counts = map_items(
            convert_row,
            iter_rows(csvs, Path(cache)),
            output_dir,
            run,
            tool=TOOL,
            config=config,
            key=lambda row: f"{row.campaign}/{safe_name(row.asset)}.md",
        )
    return 1 if counts.failed else 0


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
