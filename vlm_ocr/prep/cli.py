"""Entry-point glue for the data tools: logging, flag spelling, jsonargparse `auto_cli`, one-line bad-input errors."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import typing
from collections.abc import Callable
from typing import Any

from vlm_ocr.prep.errors import as_input_error

LOG_LEVEL_ENV = "VLM_OCR_LOG_LEVEL"
BAD_INPUT_EXIT = 2


def configure_logging() -> None:
    """Log to stderr at $VLM_OCR_LOG_LEVEL (INFO by default); called only from entry points."""
    level = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("botocore", "boto3", "urllib3", "httpx", "openai", "pdfminer", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def normalize_flags(args: list[str], bool_flags: frozenset[str] = frozenset()) -> list[str]:
    """Accept the spec's hyphenated flags (`--max-examples`) as the parameter names (`--max_examples`), and a
    boolean flag given bare (`--no_filter`, as in the original tools) as `--no_filter true`."""
    normalized = []
    for index, arg in enumerate(args):
        if arg.startswith("--") and len(arg) > 2:
            name, sep, value = arg[2:].partition("=")
            arg = "--" + name.replace("-", "_") + sep + value
            following = args[index + 1].lower() if index + 1 < len(args) else None
            if not sep and arg[2:] in bool_flags and following not in ("true", "false"):
                normalized += [arg, "true"]
                continue
        normalized.append(arg)
    return normalized


def bool_flags(main: Callable[..., Any]) -> frozenset[str]:
    """Names of the boolean options of `main`, nested dataclass fields included (`run.overwrite`)."""
    names = set()
    for name, hint in typing.get_type_hints(main).items():
        if hint is bool:
            names.add(name)
        elif dataclasses.is_dataclass(hint):
            names |= {f"{name}.{field}" for field, sub in typing.get_type_hints(hint).items() if sub is bool}
    return frozenset(names)


def tool_name(main: Callable[..., Any]) -> str:
    return main.__module__.rsplit(".", 1)[-1]


def run_tool(main: Callable[..., Any], args: list[str] | None = None) -> Any:
    """Parse `args` (default: sys.argv[1:]) against `main`'s signature and docstring, then call it.

    Positional parameters of `main` are positional on the command line; keyword-only ones are flags.
    Bad input (the project's UsageError, or a library error that means one) ends with one line on stderr and exit
    status 2; any other exception is a bug and keeps its traceback.
    """
    from jsonargparse import auto_cli, set_parsing_settings

    configure_logging()
    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    argv = normalize_flags(sys.argv[1:] if args is None else args, bool_flags(main))
    try:
        return auto_cli(main, args=argv, prog=f"python -m data_tools {tool_name(main)}")
    except Exception as err:
        bad_input = as_input_error(err)
        if bad_input is None:
            raise
        print(f"{tool_name(main)}: {bad_input}", file=sys.stderr)
        return BAD_INPUT_EXIT


def tool_entry_point(main: Callable[..., Any]) -> Callable[[list[str] | None], None]:
    """The console-script function of a tool: run `main` from the command line and exit with its status."""

    def cli(args: list[str] | None = None) -> None:
        raise SystemExit(run_tool(main, args))

    cli.__doc__ = f"Command line of {main.__module__}."
    return cli
