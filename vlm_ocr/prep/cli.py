"""Entry-point glue for the data tools: logging set-up, `--a-b` flag spelling, jsonargparse `auto_cli`."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

LOG_LEVEL_ENV = "VLM_OCR_LOG_LEVEL"


def configure_logging() -> None:
    """Log to stderr at $VLM_OCR_LOG_LEVEL (INFO by default); called only from entry points."""
    level = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("botocore", "boto3", "urllib3", "httpx", "openai", "pdfminer", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def normalize_flags(args: list[str]) -> list[str]:
    """Accept the spec's hyphenated flags (`--max-examples`) as the parameter names (`--max_examples`)."""
    normalized = []
    for arg in args:
        if arg.startswith("--") and len(arg) > 2:
            name, sep, value = arg[2:].partition("=")
            arg = "--" + name.replace("-", "_") + sep + value
        normalized.append(arg)
    return normalized


def run_tool(main: Callable[..., Any], args: list[str] | None = None) -> Any:
    """Parse `args` (default: sys.argv[1:]) against `main`'s signature and docstring, then call it.

    Positional parameters of `main` are positional on the command line; keyword-only ones are flags.
    """
    from jsonargparse import auto_cli, set_parsing_settings

    configure_logging()
    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    return auto_cli(main, args=normalize_flags(sys.argv[1:] if args is None else args))


def tool_entry_point(main: Callable[..., Any]) -> Callable[[list[str] | None], None]:
    """The console-script function of a tool: run `main` from the command line and exit with its status."""

    def cli(args: list[str] | None = None) -> None:
        raise SystemExit(run_tool(main, args))

    cli.__doc__ = f"Command line of {main.__module__}."
    return cli
