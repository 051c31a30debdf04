"""`python -m data_tools <tool> [args]`: one dispatcher for every data tool (tool name -> its main)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

TOOLS = (
    "renderpdf",
    "buildsilver",
    "runopenaibatch",
    "build_openai_batch_from_olmocrmix",
    "process_openai_batch_results",
    "clean_olmocrmix",
    "prepare_olmocrmix",
    "repackage_olmocrmix",
    "prepare_workspace",
    "prepare_loc_transcripts",
    "prepare_national_archive_transcripts",
    "mine_html_pages",
)


def tool_mains() -> dict[str, Callable[..., Any]]:
    """Tool name -> main function (modules are imported here, not when this module is)."""
    return {name: import_module(f"data_tools.{name}").main for name in TOOLS}


def description(tool: str) -> str:
    """First line of the tool module's docstring, read from the source (listing tools imports none of them)."""
    source = (Path(__file__).parent / f"{tool}.py").read_text(encoding="utf-8")
    return (ast.get_docstring(ast.parse(source)) or "").splitlines()[0]


def usage() -> str:
    width = max(map(len, TOOLS))
    lines = [f"  {tool:<{width}}  {description(tool)}" for tool in TOOLS]
    return "usage: python -m data_tools <tool> [--help | args]\n\ntools:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from vlm_ocr.redaction import redacting_excepthook
    from vlm_ocr.verbs import run_verb

    sys.excepthook = redacting_excepthook  # a bug's traceback, printed after run_verb returned, redacted too
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        raise SystemExit(0 if argv else 2)
    if argv[0] not in TOOLS:
        no_tool = f"data_tools: error: no tool named {argv[0]!r} — pick one of the tools above"
        print(f"{usage()}\n\n{no_tool}", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run_verb(tool_mains()[argv[0]], argv[1:], prog=f"python -m data_tools {argv[0]}"))


if __name__ == "__main__":
    main()
