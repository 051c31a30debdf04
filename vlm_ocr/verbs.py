"""One way to declare a command-line verb: a typed function whose docstring is its --help, run by `run_verb`."""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import typing
from argparse import ArgumentError
from collections.abc import Callable
from typing import Any

from vlm_ocr.errors import UsageError, as_input_error
from vlm_ocr.log_config import configure_logging
from vlm_ocr.redaction import redacted_output, redacting_excepthook

BAD_INPUT_EXIT = 2
PASSED_ON = "experiment_args"
"""A verb with a parameter of this name receives there every argument that is not one of its own options."""
NO_VALUE_FLAGS = frozenset({"-h", "--help", "--print_config"})


def run_verb(
    verb: Callable[..., Any],
    args: list[str] | None = None,
    *,
    prog: str | None = None,
    bad_input: tuple[type[BaseException], ...] = (),
) -> Any:
    """Parse `args` (default: sys.argv[1:]) against `verb`'s signature and docstring, call it, return its result.

    Positional parameters are positional on the command line (a list one takes every bare word), keyword-only ones
    are flags, spelled with `_` or `-`; a bool flag may be given bare. A verb with a parameter `experiment_args`
    gets there, in order, every argument that is not one of its options (for the experiment's LightningCLI).
    Bad input (the project's UsageError, a library error that means one, or one of `bad_input`) ends with one line
    `<verb>: error: <message>` on stderr and exit status 2; any other exception is a bug and keeps its traceback.
    """
    prog = prog or _default_prog(verb)
    configure_logging()
    argv = sys.argv[1:] if args is None else args
    with redacted_output():  # no secret on the terminal, whoever prints it
        return guarded(prog.rsplit(" ", 1)[-1], lambda: _parse_and_call(verb, argv, prog), bad_input)


def guarded(name: str, call: Callable[[], Any], bad_input: tuple[type[BaseException], ...] = ()) -> Any:
    """`call()`; bad input (see `run_verb`) becomes one line `<name>: error: <message>` and BAD_INPUT_EXIT."""
    try:
        return call()
    except Exception as err:
        usage = as_input_error(err) or (err if isinstance(err, bad_input) else None)
        if usage is None:
            raise
        print(f"{name}: error: {usage}", file=sys.stderr)
        return BAD_INPUT_EXIT


def tool_entry_point(main: Callable[..., Any]) -> Callable[[list[str] | None], None]:
    """The console-script function of a verb: run `main` from the command line and exit with its status."""

    def cli(args: list[str] | None = None) -> None:
        sys.excepthook = redacting_excepthook  # a bug's traceback, printed after run_verb returned, redacted too
        raise SystemExit(run_verb(main, args))

    cli.__doc__ = f"Command line of {main.__module__}."
    return cli


def _default_prog(verb: Callable[..., Any]) -> str:
    """`python -m data_tools renderpdf` for data_tools.renderpdf.main, also run as `python -m data_tools.renderpdf`."""
    module = sys.modules.get(verb.__module__)
    spec = getattr(module, "__spec__", None)
    package, _, name = (spec.name if spec is not None else verb.__module__).rpartition(".")
    return f"python -m {package} {name}"


def _parse_and_call(verb: Callable[..., Any], args: list[str], prog: str) -> Any:
    # jsonargparse builds the parser from the signature and docstring (types checked, --help, --config files);
    # the spellings the spec and the original tools use, and the passing on of arguments, are ours.
    from jsonargparse import ActionConfigFile, ArgumentParser, set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    passes_on = PASSED_ON in inspect.signature(verb).parameters
    argv = normalize_flags(args, bool_flags(verb))
    own, rest = split_own_args(argv, verb) if passes_on else (argv, [])
    parser = ArgumentParser(
        prog=prog, description=_description(verb, passes_on), exit_on_error=False, allow_abbrev=False
    )
    if not passes_on:  # a verb that passes arguments on leaves --config X.yaml to the experiment
        parser.add_argument("--config", action=ActionConfigFile, help="Path to a configuration file.")
    parser.add_function_arguments(
        verb, as_group=False, as_positional=True, fail_untyped=True, sub_configs=True, skip={PASSED_ON}
    )
    try:
        parsed = parser.parse_args(gather_list_positional(own, verb))
    except ArgumentError as err:  # jsonargparse's message spans lines; the runner's is one
        raise UsageError(f"{' '.join(str(err).split())} (see {prog} --help)") from None
    init = parser.instantiate(parsed)
    kwargs = {key: value for key, value in vars(init).items() if key not in ("config", "__default_config__")}
    return verb(**kwargs, **({PASSED_ON: rest} if passes_on else {}))


def _description(verb: Callable[..., Any], passes_on: bool) -> str:
    summary = (inspect.getdoc(verb) or "").split("\n\n")[0]
    if passes_on:
        summary += "\nOther arguments (--config X.yaml, overrides) go to the experiment's LightningCLI."
    return summary


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


def bool_flags(verb: Callable[..., Any]) -> frozenset[str]:
    """Names of the boolean options of `verb`, nested dataclass fields included (`run.overwrite`)."""
    names = set()
    for name, hint in typing.get_type_hints(verb).items():
        if hint is bool:
            names.add(name)
        elif dataclasses.is_dataclass(hint):
            names |= {f"{name}.{field}" for field, sub in typing.get_type_hints(hint).items() if sub is bool}
    return frozenset(names)


def split_own_args(args: list[str], verb: Callable[..., Any]) -> tuple[list[str], list[str]]:
    """(the verb's options with their values, every other argument) of normalized `args`, each in order.

    An option is the verb's when its name (before any `.`) is a parameter of the verb; it takes the next argument
    as its value unless given as `--name=value` (normalize_flags gave bare bools their `true`).
    """
    names = set(inspect.signature(verb).parameters) - {PASSED_ON}
    own, rest = [], []
    index = 0
    while index < len(args):
        arg = args[index]
        name = arg[2:].partition("=")[0].split(".")[0] if arg.startswith("--") else None
        if arg in ("-h", "--help") or name in names:
            span = _span(args, index)
            own += args[index : index + span]
            index += span
        else:
            rest.append(arg)
            index += 1
    return own, rest


def gather_list_positional(args: list[str], verb: Callable[..., Any]) -> list[str]:
    """Put the bare words of `args` (the ones no flag takes as its value) into one JSON list when the verb's
    positional parameter is a list (`export A.ckpt B.ckpt --out D`); other `args` come back unchanged."""
    positional = [
        p
        for p in inspect.signature(verb).parameters.values()
        if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty
    ]
    hints = typing.get_type_hints(verb)
    if len(positional) != 1 or typing.get_origin(hints.get(positional[0].name)) is not list:
        return args
    flags, words = [], []
    index = 0
    while index < len(args):
        span = _span(args, index)
        (flags if args[index].startswith("-") else words).extend(args[index : index + span])
        index += span
    return [json.dumps(words), *flags] if words else args


def _span(args: list[str], index: int) -> int:
    """How many arguments `args[index]` spans: 2 for a flag that takes the next one as its value, else 1."""
    arg = args[index]
    takes_value = arg.startswith("-") and arg not in NO_VALUE_FLAGS and "=" not in arg and index + 1 < len(args)
    return 1 + takes_value
