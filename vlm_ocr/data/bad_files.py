"""What a root's bad files do: a report beside the run, a warning, and a clear failure past the allowed share."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from vlm_ocr.data.index import DatasetIndex
from vlm_ocr.errors import UsageError
from vlm_ocr.pages.files import atomic_write_text

logger = logging.getLogger(__name__)


class TooMuchBadData(UsageError):
    """More of a root's files are bad than the configured share allows."""


def report_bad_files(index: DatasetIndex, folder: str | Path | None) -> None:
    """Warn about the skipped files and list each with its reason in `<folder>/data_report_<dataset>.jsonl`."""
    if index.bad:
        logger.warning(
            "%s: skipping %d bad files, e.g. %s: %s", index.name, len(index.bad), index.bad[0].path, index.bad[0].reason
        )
    if folder:
        path = Path(folder) / f"data_report_{index.name}.jsonl"
        lines = [json.dumps({"dataset": index.name, "path": b.path, "reason": b.reason}) for b in index.bad]
        atomic_write_text(path, "".join(line + "\n" for line in lines))


def check_bad_share(index: DatasetIndex, root: str, max_bad_fraction: float) -> None:
    """TooMuchBadData when more than `max_bad_fraction` of the root's files are bad."""
    if not 0 <= max_bad_fraction <= 1:
        raise TooMuchBadData(f"--data.max_bad_fraction {max_bad_fraction}: give a share between 0 and 1 (0.01 is 1%)")
    if index.bad and index.bad_fraction > max_bad_fraction:
        raise TooMuchBadData(
            f"{root}: {len(index.bad)} of {len(index.bad) + len(index.pages)} files are bad "
            f"({index.bad_fraction:.1%} > max_bad_fraction {max_bad_fraction:.1%}); "
            f"first: {index.bad[0].path}: {index.bad[0].reason}; fix or remove them, or raise --data.max_bad_fraction"
        )
