"""Push a folder of batch-request JSONL files through the OpenAI Batch API, resumably, within a storage budget."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vlm_ocr.errors import InputError
from vlm_ocr.prep.batch_jobs import FINISHED, STORAGE_LIMIT_BYTES, Lifecycle, load_state, save_state, step, storage_used
from vlm_ocr.prep.input_paths import require_dir
from vlm_ocr.prep.meta import now_iso, write_meta
from vlm_ocr.prep.openai_client import make_client
from vlm_ocr.prep.runner import check_writable_folder
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
TOOL = "runopenaibatch"
GIB = 1024**3


def delete_all_files(client: Any, assume_yes: bool) -> int:
    files = list(client.files.list())
    print(f"{len(files)} files ({sum(f.bytes or 0 for f in files) / GIB:.2f} GiB) in the OpenAI account.")
    if not assume_yes:
        answer = input("Delete ALL of them? [y/N] ") if sys.stdin and sys.stdin.isatty() else ""
        if answer.strip().lower() != "y":
            print("Nothing deleted.")
            return 1
    for f in files:
        client.files.delete(f.id)
    print(f"Deleted {len(files)} files.")
    return 0


def main(
    folder: Path,
    *,
    max_gb: int = 25,
    clear_all_files: bool = False,
    yes: bool = False,
    output_dir: Path | None = None,
    poll_interval_s: float = 10.0,
    max_poll_interval_s: float = 300.0,
    max_upload_attempts: int = 3,
) -> int:
    """Upload each request file as a batch, poll with back-off, and download results and error files.

    Progress lives in `<folder>/SENDSILVER_DATA`; rerunning resumes and picks up request files added since.
    An expired or cancelled batch keeps its partial results and requeues the rest as `<stem>.retryN.jsonl`.

    Args:
        folder: Folder of `.jsonl` request files (not recursive).
        max_gb: Most GiB of request files in flight at once; the account must have twice that free.
        clear_all_files: Delete every file in the OpenAI account (asks for confirmation) and exit.
        yes: Answer yes to the confirmation of `--clear_all_files`.
        output_dir: Where results go (default `<folder>_done`).
        poll_interval_s: First wait between two polls of a batch; doubled while its status stays the same.
        max_poll_interval_s: Longest wait between two polls of a batch.
        max_upload_attempts: Upload tries before a file is given up as `could_not_upload`.
    """
    client = make_client()
    if clear_all_files:
        return delete_all_files(client, yes)
    folder = require_dir(folder, "folder", "pass the folder of .jsonl request files (buildsilver's --output)").resolve()
    done_dir = (output_dir or folder.with_name(folder.name + "_done")).expanduser().resolve()
    check_writable_folder(folder, "folder")  # its progress file, before any upload
    check_writable_folder(done_dir, "--output_dir")
    started = now_iso()
    entries = load_state(folder, client)
    if not entries:
        raise InputError(f"folder {folder}: no .jsonl request file", "pass the folder buildsilver wrote (--output)")
    free = STORAGE_LIMIT_BYTES - storage_used(client)
    if free < 2 * max_gb * GIB:
        raise InputError(
            f"only {free / GIB:.2f} GiB of OpenAI file storage free, {2 * max_gb} GiB needed (2 x --max_gb)",
            "lower --max_gb or delete old files (--clear_all_files)",
        )
    cfg = Lifecycle(poll_interval_s, max_poll_interval_s, max_upload_attempts, max_gb * GIB)
    save_state(folder, entries)
    bar = tqdm(total=len(entries), desc=TOOL, unit="file", disable=None)
    bar.update(sum(e.state in FINISHED for e in entries.values()))
    while unfinished := [e for e in entries.values() if e.state not in FINISHED]:
        entry = min(unfinished, key=lambda e: (e.next_poll, e.filename))
        time.sleep(max(0.0, entry.next_poll - time.monotonic()))
        try:
            step(entry, entries, folder, done_dir, client, cfg)
        except Exception as err:  # noqa: BLE001 - a failed poll is retried after the back-off
            logger.warning("%s: %s: %s", entry.filename, type(err).__name__, err)
            entry.interval_s = min(max(entry.interval_s * 2, poll_interval_s), max_poll_interval_s)
            entry.next_poll = time.monotonic() + entry.interval_s
        save_state(folder, entries)
        bar.total = len(entries)
        bar.n = sum(e.state in FINISHED for e in entries.values())
        bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in sorted(Counter(e.state for e in entries.values()).items())))
    bar.close()
    states = Counter(e.state for e in entries.values())
    logger.info("all request files finished: %s", " ".join(f"{k}={v}" for k, v in sorted(states.items())))
    config = {"folder": folder, "max_gb": max_gb, "output_dir": done_dir, "poll_interval_s": poll_interval_s}
    write_meta(done_dir / "_meta.json", TOOL, config, dict(states), started)
    return 0 if states["completed"] == len(entries) else 1


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
