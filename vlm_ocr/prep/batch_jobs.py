"""The OpenAI Batch lifecycle of request files: a resumable state file and one step per poll (used by runopenaibatch).

The client is always passed in. States: init -> processing -> completed | errored_out | could_not_upload.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vlm_ocr.pages.files import atomic_write_text
from vlm_ocr.prep.batch_io import custom_id_of, iter_lines

logger = logging.getLogger(__name__)

STATE_NAME = "SENDSILVER_DATA"
FINISHED = frozenset({"completed", "errored_out", "could_not_upload"})
WAITING = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
STORAGE_LIMIT_BYTES = 100 * 1024**3
MAX_REQUEUES = 3
"""An expired batch's unanswered requests are requeued at most this many times."""
_RETRY_SUFFIX = re.compile(r"\.retry(\d+)$")


@dataclass
class Entry:
    """One request file's progress through the Batch API."""

    filename: str
    size: int
    state: str = "init"
    batch_id: str | None = None
    input_file_id: str | None = None
    upload_attempts: int = 0
    last_status: str | None = None
    interval_s: float = 0.0
    next_poll: float = 0.0
    note: str = ""
    outputs: list[str] = field(default_factory=list)


@dataclass
class Lifecycle:
    """Settings of the loop (all times in seconds)."""

    poll_interval_s: float = 10.0
    max_poll_interval_s: float = 300.0
    max_upload_attempts: int = 3
    max_bytes_in_flight: int = 25 * 1024**3


def state_path(folder: Path) -> Path:
    return folder / STATE_NAME


def save_state(folder: Path, entries: dict[str, Entry]) -> None:
    atomic_write_text(state_path(folder), json.dumps({k: asdict(v) for k, v in sorted(entries.items())}, indent=1))


def load_state(folder: Path, client: Any) -> dict[str, Entry]:
    """The saved state plus any request file added since; a corrupt state file is set aside and rebuilt
    from the server's batch list (the batches carry their file name in metadata), never silently reset."""
    path = state_path(folder)
    entries: dict[str, Entry] = {}
    if path.exists():
        try:
            entries = {k: Entry(**v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        except (ValueError, TypeError) as err:
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            path.rename(aside)
            logger.warning("%s is corrupt (%s); moved to %s, recovering from the batch list", path, err, aside.name)
            entries = _recover(folder, client)
    for entry in entries.values():
        entry.next_poll = 0.0  # monotonic times do not survive a restart
    for request_file in sorted(folder.glob("*.jsonl")):
        if request_file.name.startswith(("_", ".", "errors", "dropped")):
            continue  # the builders' errors.jsonl, dropped.jsonl are no request files
        if request_file.name not in entries:
            entries[request_file.name] = Entry(request_file.name, request_file.stat().st_size)
    return entries


def _recover(folder: Path, client: Any) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    newest: dict[str, Any] = {}
    for batch in client.batches.list(limit=100):
        meta = batch.metadata or {}
        name = meta.get("source_file")
        if (
            meta.get("folder") == folder.name
            and name
            and (name not in newest or batch.created_at > newest[name].created_at)
        ):
            newest[name] = batch
    for name, batch in newest.items():
        if (folder / name).exists():
            entry = Entry(name, (folder / name).stat().st_size, "processing", batch.id, batch.input_file_id)
            entries[name] = entry
            logger.info("recovered %s -> batch %s (%s)", name, batch.id, batch.status)
    return entries


def bytes_in_flight(entries: dict[str, Entry]) -> int:
    return sum(e.size for e in entries.values() if e.state == "processing")


def step(entry: Entry, entries: dict[str, Entry], folder: Path, done_dir: Path, client: Any, cfg: Lifecycle) -> None:
    """Advance one entry by one API interaction and schedule its next poll."""
    now = time.monotonic()
    if entry.state == "init":
        in_flight = bytes_in_flight(entries)
        if in_flight and in_flight + entry.size > cfg.max_bytes_in_flight:
            entry.next_poll = now + cfg.poll_interval_s
            return
        _upload(entry, folder, client, cfg)
    elif entry.state == "processing":
        batch = client.batches.retrieve(entry.batch_id)
        if batch.status == "completed":
            _collect(entry, batch, done_dir, client)
            entry.state = "completed" if batch.output_file_id else "errored_out"
            entry.note = "" if batch.output_file_id else "completed without an output file"
            _cleanup(client, batch)
        elif batch.status in ("expired", "cancelled", "failed"):
            _collect(entry, batch, done_dir, client)
            requeued = _requeue(entry, entries, folder, done_dir) if batch.status == "expired" else ""
            entry.state = "completed" if requeued else "errored_out"
            entry.note = batch.status + requeued + _errors_text(batch)
            _cleanup(client, batch)
        else:
            changed = batch.status != entry.last_status
            entry.interval_s = cfg.poll_interval_s if changed else min(entry.interval_s * 2, cfg.max_poll_interval_s)
            entry.last_status = batch.status
    entry.next_poll = now + max(entry.interval_s, cfg.poll_interval_s)


def _upload(entry: Entry, folder: Path, client: Any, cfg: Lifecycle) -> None:
    entry.upload_attempts += 1
    uploaded = None
    try:
        with open(folder / entry.filename, "rb") as handle:
            uploaded = client.files.create(file=handle, purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={
                "description": "vlm_ocr pdf gold/silver data",
                "source_file": entry.filename,
                "folder": folder.name,
            },
        )
    except Exception as err:  # noqa: BLE001 - any API failure counts as one attempt
        logger.warning("%s: upload attempt %d failed: %s", entry.filename, entry.upload_attempts, err)
        if uploaded is not None:
            _delete(client, uploaded.id)
        if entry.upload_attempts >= cfg.max_upload_attempts:
            entry.state, entry.note = "could_not_upload", f"{type(err).__name__}: {err}"
        entry.interval_s = min(cfg.poll_interval_s * 2**entry.upload_attempts, cfg.max_poll_interval_s)
        return
    entry.state, entry.batch_id, entry.input_file_id = "processing", batch.id, uploaded.id
    entry.interval_s, entry.last_status = cfg.poll_interval_s, batch.status
    logger.info("%s: uploaded as batch %s", entry.filename, batch.id)


def _collect(entry: Entry, batch: Any, done_dir: Path, client: Any) -> None:
    """Stream the output file and the error file (if any) to disk: `<batch_id>.jsonl`, `<batch_id>_errors.jsonl`."""
    for file_id, name in (
        (batch.output_file_id, f"{batch.id}.jsonl"),
        (batch.error_file_id, f"{batch.id}_errors.jsonl"),
    ):
        if not file_id:
            continue
        dest = done_dir / name
        tmp = done_dir / f".{name}.tmp"
        done_dir.mkdir(parents=True, exist_ok=True)
        with client.files.with_streaming_response.content(file_id) as response, open(tmp, "wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
        tmp.replace(dest)
        entry.outputs.append(name)


def _requeue(entry: Entry, entries: dict[str, Entry], folder: Path, done_dir: Path) -> str:
    """Write the requests of an expired batch that got no result into `<stem>.retryN.jsonl`, picked up like any
    other request file; returns a note, or "" when nothing was requeued."""
    answered = set()
    for name in entry.outputs:
        answered.update(
            custom_id_of(line) for line in iter_lines(done_dir / name) if not name.endswith("_errors.jsonl")
        )
    missing = [line for line in iter_lines(folder / entry.filename) if custom_id_of(line) not in answered]
    if not missing:
        return ""
    stem = Path(entry.filename).stem
    match = _RETRY_SUFFIX.search(stem)
    base, number = (stem[: match.start()], int(match.group(1)) + 1) if match else (stem, 1)
    if number > MAX_REQUEUES:
        return ""
    retry = folder / f"{base}.retry{number}.jsonl"
    atomic_write_text(retry, "".join(line + "\n" for line in missing))
    entries[retry.name] = Entry(retry.name, retry.stat().st_size)
    return f"; {len(answered)} results kept, {len(missing)} requests requeued in {retry.name}"


def _errors_text(batch: Any) -> str:
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    return "".join(f"; {getattr(e, 'code', '')}: {getattr(e, 'message', '')}" for e in data)


def _cleanup(client: Any, batch: Any) -> None:
    for file_id in (batch.input_file_id, batch.output_file_id, batch.error_file_id):
        if file_id:
            _delete(client, file_id)


def _delete(client: Any, file_id: str) -> None:
    try:
        client.files.delete(file_id)
    except Exception as err:  # noqa: BLE001 - a leftover remote file is worth a warning, not a crash
        logger.warning("could not delete remote file %s: %s", file_id, err)


def storage_used(client: Any) -> int:
    return sum(f.bytes or 0 for f in client.files.list())
