"""The command line: LightningCLI subcommands fit/validate/test/predict plus the project's own verbs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any

from vlm_ocr.experiment_cli import build_cli
from vlm_ocr.log_config import configure_logging
from vlm_ocr.verbs import guarded, run_verb

VERBS = {
    "make-tiny-model": "make_tiny_model",
    "make-sample-data": "make_sample_data",
    "inspect-data": "inspect_data",
    "bench": "bench",
    "export": "export",
    "cache-renders": "cache_renders",
}
"""Verb -> `vlm_ocr.commands.<module>.<function>` of the same name (imported only when the verb runs)."""


def verb(name: str) -> Callable[..., Any]:
    """The typed function of a project verb; its signature and docstring are the verb's command line."""
    module = VERBS[name]
    return getattr(import_module(f"vlm_ocr.commands.{module}"), module)


BAD_INPUT_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError)
"""Errors that mean bad input besides UsageError (whose kinds include a corrupt checkpoint, one export cannot read,
and an export that fails its parity check and so writes nothing): one line, no traceback. Everything else is a bug
and keeps its traceback."""


def main(args: list[str] | None = None) -> int:
    """Entry point of `python -m vlm_ocr` and the `vlm-ocr` console script; returns the exit status: the verb's,
    0 when a LightningCLI subcommand's trainer finished its run, 1 when it stopped short, 2 on bad input."""
    configure_logging()
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] in VERBS:
        return run_verb(verb(argv[0]), argv[1:], prog=f"python -m vlm_ocr {argv[0]}", bad_input=BAD_INPUT_ERRORS)
    if argv and argv[0] in ("-h", "--help"):
        print("project verbs: " + ", ".join(sorted(VERBS)) + " (each has --help)\n")
    command = argv[0] if argv and not argv[0].startswith("-") else "vlm_ocr"
    # None: LightningCLI reads sys.argv itself
    return guarded(command, lambda: _experiment_status(build_cli(None if args is None else argv)), BAD_INPUT_ERRORS)


def _experiment_status(cli: Any) -> int:
    return 0 if cli.trainer.state.finished else 1
