"""The command line: LightningCLI subcommands fit/validate/test/predict plus the project's own verbs."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable

from vlm_ocr.experiment_cli import build_cli


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
    """Send the project's INFO logs to stderr; Lightning and transformers keep their own handlers."""
    package = logging.getLogger("vlm_ocr")
    if not package.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        package.addHandler(handler)
    package.setLevel(logging.INFO)
    package.propagate = False
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
    # At every start: an advertisement for a hosted logger, and a note that ParameterSummary replaces the default.
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _quiet_defaults not in rank_zero.filters:
        rank_zero.addFilter(_quiet_defaults)


def _quiet_defaults(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return "litlogger" not in message and "Skipping setting a default `ModelSummary`" not in message


def bad_input_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input (a missing path, a corrupt checkpoint, too many bad pairs): one line, no
    traceback. Everything else is a bug and keeps its traceback."""
    from vlm_ocr.checkpointing.verified_files import CorruptCheckpoint
    from vlm_ocr.errors import UsageError
    from vlm_ocr.export.checkpoints import CheckpointError

    return (UsageError, CheckpointError, CorruptCheckpoint, FileNotFoundError, NotADirectoryError)


def _verbs() -> dict[str, Callable[[list[str]], int]]:
    from vlm_ocr.commands import bench, cache_renders, export, inspect_data, make_sample_data, make_tiny_model

    return {
        "make-tiny-model": make_tiny_model.main,
        "make-sample-data": make_sample_data.main,
        "inspect-data": inspect_data.main,
        "bench": bench.main,
        "export": export.main,
        "cache-renders": cache_renders.main,
    }


def main(args: list[str] | None = None) -> int:
    """Entry point of `python -m vlm_ocr` and the `vlm-ocr` console script; returns the exit status."""
    configure_logging()
    argv = list(sys.argv[1:] if args is None else args)
    verbs = _verbs()
    try:
        if argv and argv[0] in verbs:
            return verbs[argv[0]](argv[1:]) or 0
        if argv and argv[0] in ("-h", "--help"):
            print("project verbs: " + ", ".join(sorted(verbs)) + " (each has --help)\n")
        build_cli(None if args is None else argv)  # None: LightningCLI reads sys.argv itself
    except bad_input_errors() as error:
        command = argv[0] if argv and not argv[0].startswith("-") else "vlm_ocr"
        print(f"{command}: error: {error}", file=sys.stderr)
        return 2
    return 0
