"""Where the project's logs go (stderr, at $VLM_OCR_LOG_LEVEL) and which known, harmless messages stay quiet."""

from __future__ import annotations

import logging
import os
import sys
import warnings

LOG_LEVEL_ENV = "VLM_OCR_LOG_LEVEL"


class _StderrHandler(logging.StreamHandler):
    """A StreamHandler on the sys.stderr of the moment, not the one of its creation (tests and notebooks call
    main() several times and replace sys.stderr in between)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging() -> None:
    """Send the project's logs to stderr at $VLM_OCR_LOG_LEVEL (INFO by default); called only from entry points.
    Other libraries (Lightning, transformers) keep their own handlers and levels."""
    level = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    for package in ("vlm_ocr", "data_tools"):
        logger = logging.getLogger(package)
        if not logger.handlers:
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    # transformers' per-call bars ("Loading weights", "Writing model shards") interleave with the training bar;
    # HF_HUB_DISABLE_PROGRESS_BARS=0 brings them back.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # pypdf (which reads each page's MediaBox numbers for the render size) warns about every repaired xref entry
    # of a damaged file, once per render; the page still renders, and a real failure raises.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    # Known, harmless messages, filtered on purpose; everything else stays visible.
    warnings.filterwarnings("ignore", message=".*does not have many workers.*", module="lightning")
    warnings.filterwarnings("ignore", message=".*`max_pixels` and `min_pixels`.*")
    # Lightning's pytree helper calls an API torch deprecated; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", module="lightning")
    # VlmOcrModule.training_step returns None on purpose when a pipeline step dropped every page of the batch
    # (counted in train/dropped_samples).
    warnings.filterwarnings("ignore", message=r".*`training_step` returned `None`.*", module="lightning")
    # At every start: an advertisement for a hosted logger, a note that ParameterSummary replaces the default, the
    # accelerator banners and the seed (both are in the config the run saves).
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.seed"):
        if _quiet_defaults not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_quiet_defaults)


QUIET = ("litlogger", "Skipping setting a default `ModelSummary`", "Seed set to ")
QUIET_STARTS = ("GPU available:", "TPU available:", "HPU available:")


def _quiet_defaults(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(text in message for text in QUIET) and not message.startswith(QUIET_STARTS)
