"""A mistake in an experiment's configuration as one line: the key, the file it came from, and the fix.

jsonargparse reports a config mistake as its whole usage text plus a message that spans lines and, for a YAML
syntax error, names `<unicode string>` instead of the file. `config_error` turns the parser's message into one
`UsageError`; the experiments' parser raises it instead of printing (vlm_ocr.experiment_cli).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlm_ocr.errors import UsageError

CONFIG_FLAGS = ("--config", "-c")
EXAMPLE_CONFIG = "experiments/tiny.yaml"
_PARSER_KEY = re.compile(r'^Parser key "([^"]+)":\s*(.*)$', re.S)
_UNKNOWN_KEY = re.compile(r"does not accept option '([^']+)'|^Option '([^']+)' is not accepted")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (\S+)")
_NESTED_UNKNOWN = re.compile(
    r"(?:class_path '([\w.]+)':\s*)?Option '(\w+)' is not accepted(?:.*?class_path='([\w.]+)')?", re.S
)
_CLASS_PROBLEM = re.compile(r"Problem with given class_path '([\w.]+)':\s*(.*?)(?:\n\s*-|$)", re.S)
_EXPECTED = re.compile(r"Expected a <class '([\w.]+)'>")
_GIVEN = re.compile(r"Given value: (.*?)(?:\n|$)|Got value: (.*?)(?:\n|$)")


def config_files(argv: Sequence[str]) -> list[str]:
    """The --config files of a command line, in the order given."""
    files = []
    for index, arg in enumerate(argv):
        flag, sep, value = arg.partition("=")
        if flag in CONFIG_FLAGS:
            if sep:
                files.append(value)
            elif index + 1 < len(argv):
                files.append(argv[index + 1])
    return files


def loading_config_file() -> str | None:
    """The config file jsonargparse is reading at this moment (None outside a file), from the stack it keeps to
    detect include loops: the only place that knows which file a value came from."""
    try:
        from jsonargparse._util import config_load_stack
    except ImportError:  # a jsonargparse without it: the key is still named, the file looked up by key
        return None
    stack = config_load_stack.get()
    return stack[-1][1] if stack else None


def config_error(parser: Any, message: str, error: BaseException | None, argv: Sequence[str]) -> UsageError:
    """The one-line UsageError of jsonargparse's `message` (and the exception behind it) for this command line."""
    files = config_files(argv)
    current = loading_config_file()
    cause = error.__cause__ if error is not None else None
    if message.startswith("Problems parsing config") or _is_yaml_error(cause):
        return UsageError(_syntax_error(current, message, cause))
    match = _PARSER_KEY.match(message)
    if match and match.group(1) in ("config", "c"):
        missing = next((f for f in reversed(files) if not Path(f).is_file()), files[-1] if files else "")
        return UsageError(f"--config {missing}: no such file; give an experiment YAML such as {EXAMPLE_CONFIG}")
    if match:
        key, detail = match.groups()
        if _given_value(detail) == "None" and "NoneType" not in detail:
            fix = _no_config_hint(files) or f"; set it in {files[-1]} or with --{key}"
            return UsageError(f"{key} is not set{fix}")
        nested = _NESTED_UNKNOWN.search(detail)
        if nested:
            class_path, sub = nested.group(1) or nested.group(3) or "", nested.group(2)
            where = current or _where(key, argv, files, sub)
            return UsageError(f"{key}.{sub} ({where}): {_unknown(sub, _init_keys(class_path))}")
        where = current or _where(key, argv, files)
        problem = _CLASS_PROBLEM.search(detail)
        if problem:
            reason = " ".join(problem.group(2).split())
            return UsageError(f"{key} ({where}): class_path {problem.group(1)}: {reason}; check its spelling")
        return UsageError(f"{key} ({where}): {_type_problem(key, detail)}")
    unknown = _UNKNOWN_KEY.search(message) or _UNRECOGNIZED.search(message)
    if unknown:
        key = next(group for group in unknown.groups() if group).removeprefix("--").split("=")[0]
        known = _known_keys(getattr(error, "subcommand_parser", None) or parser)
        return UsageError(f"{key} ({current or _where(key, argv, files)}): {_unknown(key, known)}")
    return UsageError(" ".join(message.split()))


def _unknown(key: str, known: list[str]) -> str:
    """`no such key; did you mean X?`, saying so when the key is the start of one (abbreviations are refused)."""
    close = [k for k in known if k.startswith(key) and k != key] or difflib.get_close_matches(key, known, n=1)
    if not close:
        return "no such key; see --help for the keys it takes"
    note = " (abbreviations are not accepted)" if close[0].startswith(key) else ""
    return f"no such key{note}; did you mean {close[0]}?"


def _init_keys(class_path: str) -> list[str]:
    """The init parameters of a class_path (what its init_args may hold); none when it does not import."""
    import importlib
    import inspect

    module, _, name = class_path.rpartition(".")
    try:
        return list(inspect.signature(getattr(importlib.import_module(module), name)).parameters)
    except (ImportError, AttributeError, ValueError, TypeError):
        return []


def _is_yaml_error(error: BaseException | None) -> bool:
    return error is not None and type(error).__module__.startswith("yaml")


def _syntax_error(path: str | None, message: str, cause: BaseException | None) -> str:
    where = path or "the config given"
    mark, problem = getattr(cause, "problem_mark", None), getattr(cause, "problem", None)
    if mark is None or problem is None:
        return f"{where}: cannot read it as YAML: {' '.join(message.split())}"
    context, opened = getattr(cause, "context", None), getattr(cause, "context_mark", None)
    since = f" ({context} from line {opened.line + 1}, column {opened.column + 1})" if context and opened else ""
    at = f"line {mark.line + 1}, column {mark.column + 1}"
    return f"{where}: YAML syntax error at {at}: {problem}{since}; fix the file"


def _where(key: str, argv: Sequence[str], files: list[str], sub: str | None = None) -> str:
    """Where a key (or the option `sub` of the class at `key`) was set: the command line, or the last config file
    that holds it."""
    flag = "--" + key
    for arg in argv:
        name = arg.partition("=")[0]
        if (name == flag or name.startswith(flag + ".")) and (sub is None or name.rsplit(".", 1)[-1] == sub):
            return "command line"
    for path in reversed(files):
        if _holds_key(path, key.split(".") + ([sub] if sub else [])):
            return path
    return "command line" if not files else "config"


def _holds_key(path: str, parts: list[str]) -> bool:
    import yaml

    try:
        node: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return _has_path(node, parts)


def _has_path(node: Any, parts: list[str]) -> bool:
    """Whether a loaded YAML value holds the dotted key `parts` (through lists and class_path init_args)."""
    if not parts:
        return True
    if isinstance(node, list):
        return any(_has_path(item, parts) for item in node)
    if not isinstance(node, dict):
        return False
    if parts[0] in node:
        return _has_path(node[parts[0]], parts[1:])
    return "init_args" in node and _has_path(node["init_args"], parts)


def _type_problem(key: str, detail: str) -> str:
    """`expected int, got 'abc'` from jsonargparse's multi-line detail, with the fix when it is a list."""
    expected = [name.rsplit(".", 1)[-1].replace("NoneType", "null") for name in _EXPECTED.findall(detail)]
    value = _given_value(detail)
    if not expected:
        return " ".join(detail.split())
    problem = f"expected {' or '.join(dict.fromkeys(expected))}, got {value!r}"
    if "list" in expected:
        problem += f"; write a list, e.g. --{key} '[{value}]'"
    return problem


def _given_value(detail: str) -> str:
    given = _GIVEN.search(detail)
    return next((g for g in given.groups() if g is not None), "").strip() if given else ""


def _no_config_hint(files: list[str]) -> str:
    return "" if files else f" (no --config given: pass an experiment, e.g. --config {EXAMPLE_CONFIG})"


def _known_keys(parser: Any) -> list[str]:
    keys = []
    for action in getattr(parser, "_actions", []):
        dest = getattr(action, "dest", "")
        if dest and dest not in ("help", "config", "print_config"):
            keys.append(dest)
    return keys
