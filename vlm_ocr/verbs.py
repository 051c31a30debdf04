"""One way to declare a command-line verb: a typed function whose docstring is its --help, run by `run_verb`."""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from argparse import ArgumentError
from collections.abc import Callable
from itertools import zip_longest
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser, set_parsing_settings

from vlm_ocr.errors import UsageError, as_input_error
from vlm_ocr.log_config import configure_logging
from vlm_ocr.redaction import redacted_output, redacting_excepthook

BAD_INPUT_EXIT = 2
PASSED_ON = "experiment_args"
"""A verb with a parameter of this name receives there every argument that is not one of its own options."""


def run_verb(
    verb: Callable[..., Any],
    args: list[str] | None = None,
    *,
    prog: str | None = None,
    bad_input: tuple[type[BaseException], ...] = (),
) -> Any:
    """Parse `args` (default: sys.argv[1:]) against `verb`'s signature and docstring, call it, return its result.

    Positional parameters are positional on the command line (a list one takes every bare word), keyword-only ones
    are flags, spelled with `_` or `-`; a bool flag may be given bare. A verb with a parameter `experiment_args` gets
    there, in order, every argument that is not one of its options (for the experiment's LightningCLI).
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
    # jsonargparse builds the parser from the signature and docstring (types checked, --help, --config files) and
    # parses; VerbParser adds the spellings the spec and the original tools use, and the passing on of arguments.
    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    passes_on = PASSED_ON in inspect.signature(verb).parameters
    listed = _list_positional(verb)
    parser = VerbParser(
        prog=prog,
        description=_description(verb, passes_on),
        exit_on_error=False,
        allow_abbrev=False,
        print_config=None if passes_on else "--print_config",  # a verb that passes arguments on leaves it, and
    )  # --config X.yaml, to the experiment
    parser.passes_on, parser.bool_flags = passes_on, _bool_flags(verb)
    if not passes_on:
        parser.add_argument("--config", action=ActionConfigFile, help="Path to a configuration file.")
    skip = {PASSED_ON, *([listed[0]] if listed else [])}
    parser.add_function_arguments(
        verb, as_group=False, as_positional=True, fail_untyped=True, sub_configs=True, skip=skip
    )
    if listed:  # one or more bare words, each checked against the list's item type
        parser.list_positional = listed[0]
        parser.add_argument(listed[0], type=listed[1], nargs="+", help=_param_help(verb, listed[0]))
    try:
        parsed = parser.parse_args(args)
    except ArgumentError as err:  # jsonargparse's message spans lines; the runner's is one
        raise UsageError(f"{' '.join(str(err).split())} (see {prog} --help)") from None
    init = parser.instantiate(parsed)
    kwargs = {key: value for key, value in vars(init).items() if key not in ("config", "__default_config__")}
    return verb(**kwargs, **({PASSED_ON: parser.passed_on} if passes_on else {}))


def _description(verb: Callable[..., Any], passes_on: bool) -> str:
    summary = (inspect.getdoc(verb) or "").split("\n\n")[0]
    if passes_on:
        summary += "\nOther arguments (--config X.yaml, overrides) go to the experiment's LightningCLI."
    return summary


def _bool_flags(verb: Callable[..., Any]) -> frozenset[str]:
    """Names of the boolean options of `verb`, nested dataclass fields included (`run.overwrite`)."""
    names = set()
    for name, hint in typing.get_type_hints(verb).items():
        if hint is bool:
            names.add(name)
        elif dataclasses.is_dataclass(hint):
            names |= {f"{name}.{field}" for field, sub in typing.get_type_hints(hint).items() if sub is bool}
    return frozenset(names)


def _list_positional(verb: Callable[..., Any]) -> tuple[str, Any] | None:
    """(name, item type) of the verb's positional parameter when it is its only one and a list, else None."""
    positional = [
        p
        for p in inspect.signature(verb).parameters.values()
        if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty and p.name != PASSED_ON
    ]
    hint = typing.get_type_hints(verb).get(positional[0].name) if len(positional) == 1 else None
    return (positional[0].name, typing.get_args(hint)[0]) if typing.get_origin(hint) is list else None


def _param_help(verb: Callable[..., Any], name: str) -> str | None:
    from docstring_parser import parse  # what jsonargparse reads the other parameters' help with

    return next((p.description for p in parse(inspect.getdoc(verb) or "").params if p.arg_name == name), None)


def underscored(arg: str) -> str:
    """`--max_examples=3` for `--max-examples=3`: the spec's hyphenated spelling of an option; other arguments as
    they are."""
    if not arg.startswith("--") or len(arg) == 2:
        return arg
    name, sep, value = arg[2:].partition("=")
    return "--" + name.replace("-", "_") + sep + value


class VerbParser(ArgumentParser):
    """jsonargparse's parser, taking besides its own the spellings the spec and the original tools use:
    `--max-examples` for `--max_examples`, a bool flag given bare (`--no_filter`) for `--no_filter true`, bare
    words after the options for a list positional (`A.ckpt --out D B.ckpt`). With `passes_on`, arguments that
    are none of the verb's options are kept, in order, in `passed_on` instead of refused. (jsonargparse makes
    its nested parsers of this class too; the defaults leave them as its own.)"""

    passes_on = False
    bool_flags: frozenset[str] = frozenset()
    list_positional: str | None = None

    def _parse_optional(self, arg_string):  # argparse's lookup of one argument among the options
        return super()._parse_optional(underscored(arg_string))

    def _parse_known_args(self, arg_strings, *args, **kwargs):  # argparse's parsing, under jsonargparse's
        namespace, unknown = super()._parse_known_args(self._bare_flags_valued(arg_strings), *args, **kwargs)
        if self.passes_on:
            self.passed_on, unknown = [underscored(arg) for arg in unknown], []
        elif self.list_positional and unknown and not any(arg.startswith("-") for arg in unknown):
            namespace[self.list_positional] = [*namespace[self.list_positional], *unknown]
            unknown = []
        return namespace, unknown

    def _bare_flags_valued(self, args: list[str]) -> list[str]:  # `--force` -> `--force=true` unless valued
        return [
            f"{arg}=true"
            if underscored(arg)[2:] in self.bool_flags and str(after).lower() not in ("true", "false")
            else arg
            for arg, after in zip_longest(args, args[1:])
        ]
