"""U.S. National Archives (NARA) catalog JSONL exports -> image-PDF + transcription pairs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from vlm_ocr.errors import InputError
from vlm_ocr.prep.fetch import DEFAULT_RETRY, RetryPolicy
from vlm_ocr.prep.runner import Drop, RunArgs, map_items
from vlm_ocr.prep.transcripts import DEFAULT_MAX_DOWNLOAD_MB, image_pdf, transcript_markdown
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
RUN = RunArgs(workers=1)
TOOL = "prepare_national_archive_transcripts"
IMAGE_TYPES = ("image", "tiff", "jp2", "jpeg", "jpg")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Task:
    """One digital object with its transcription, or a record/object left out (`problem`)."""

    stem: str
    url: str = ""
    text: str = ""
    problem: str | None = None
    drop: bool = True


def latest_transcription(record: dict[str, Any], object_id: str) -> dict[str, Any] | None:
    """The newest (highest contributionSequence) non-empty transcription that targets `object_id`."""
    found = [
        t
        for t in record.get("record_transcription") or []
        if str((t.get("target") or {}).get("objectId")) == object_id
        and t.get("contributionType") == "transcription"
        and t.get("contribution")
    ]
    return max(found, key=lambda t: t.get("contributionSequence") or 0) if found else None


def record_tasks(record: dict[str, Any], folder: str, where: str) -> Iterator[Task]:
    inner = record.get("record") or {}
    if (inner.get("accessRestriction") or {}).get("status") != "Unrestricted":
        yield Task(where, problem="access restricted")
        return
    if any(tag.get("aiMachineGenerated") for tag in record.get("record_tag") or []):
        yield Task(where, problem="AI-generated tags")
        return
    for obj in inner.get("digitalObjects") or []:
        object_id, url = str(obj.get("objectId") or ""), obj.get("objectUrl") or ""
        if not object_id or not url or not any(t in str(obj.get("objectType", "")).lower() for t in IMAGE_TYPES):
            yield Task(f"{where}:{object_id}", problem="not an image object")
            continue
        transcription = latest_transcription(record, object_id)
        if transcription is None:
            yield Task(f"{where}:{object_id}", problem="no transcription")
            continue
        target = transcription["target"]
        name = _SAFE.sub("_", f"{target.get('naId')}-{object_id}-page-{target.get('pageNum') or 1}")
        yield Task(f"{folder}/{name}", url, transcription["contribution"])


def iter_tasks(jsonl_files: list[Path], input_dir: Path) -> Iterator[Task]:
    for path in jsonl_files:
        folder = f"{path.parent.name or 'root'}/{path.stem}"
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                where = f"{path.relative_to(input_dir).as_posix()}:{number}"
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    yield Task(where, problem="undecodable JSON line", drop=False)
                    continue
                yield from record_tasks(record, folder, where)


def convert(task: Task, policy: RetryPolicy, max_bytes: int, front_matter: bool, language: str | None) -> dict:
    """One object -> `<naId>-<objectId>-page-<n>.pdf` (image; TIFF/JP2 as JPEG <= 1.5 MiB) then `.md`."""
    if task.problem:
        raise Drop(task.problem) if task.drop else ValueError(task.problem)
    pdf = image_pdf(task.url, policy, max_bytes)
    return {f"{task.stem}.pdf": pdf, f"{task.stem}.md": transcript_markdown(task.text, front_matter, language)}


def main(
    *,
    input_dir: Path,
    output_dir: Path,
    front_matter: bool = True,
    primary_language: str | None = "en",
    max_download_mb: int = DEFAULT_MAX_DOWNLOAD_MB,
    retry: RetryPolicy = DEFAULT_RETRY,
    run: RunArgs = RUN,
) -> int:
    """Download each unrestricted image object that has a transcription and pair it with the latest one.

    Outputs go to `<output_dir>/<JSONL's folder name>/<JSONL stem>/<naId>-<objectId>-page-<n>.{pdf,md}`.

    Args:
        input_dir: Folder searched recursively for `*.jsonl` catalog exports.
        output_dir: Root of the pair tree.
        front_matter: Write front matter (with `primary_language`); false writes the raw transcription.
        primary_language: Language written in the front matter (null when unknown).
        max_download_mb: Hard limit on one image download.
        retry: Retry and back-off policy of downloads (429, 5xx, connection errors).
        run: Common data-tool flags (`--run.workers` replaces the original `--parallel`).
    """
    config = dict(locals())
    input_dir = input_dir.expanduser().resolve()
    out = output_dir.expanduser().resolve()
    files = sorted(p for p in input_dir.rglob("*.jsonl") if out not in p.parents) if input_dir.is_dir() else []
    if not files:
        raise InputError(f"--input_dir {input_dir}: no *.jsonl file", "pass the folder of NARA catalog JSONL exports")
    convert_task = partial(
        convert,
        policy=retry,
        max_bytes=max_download_mb * 1024 * 1024,
        front_matter=front_matter,
        language=primary_language,
    )
    counts = map_items(
        convert_task,
        iter_tasks(files, input_dir),
        output_dir,
        run,
        tool=TOOL,
        config=config,
        key=lambda task: f"{task.stem}.md",
    )
    return 1 if counts.failed else 0


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
