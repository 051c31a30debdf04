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
    # parses; VerbParser takes the spellings the spec and the original tools use, and keeps what is passed on.
    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    passes_on = PASSED_ON in inspect.signature(verb).parameters
    parser = VerbParser(prog=prog, description=_description(verb, passes_on), exit_on_error=False, allow_abbrev=False)
    parser.passes_on, parser.bool_flags, listed = passes_on, _bool_flags(verb), _list_positional(verb)
    if not passes_on:  # a verb that passes arguments on leaves --config X.yaml to the experiment
        parser.add_argument("--config", action=ActionConfigFile, help="Path to a configuration file.")
    skip = {PASSED_ON, *listed[:1]}
    parser.add_function_arguments(
        verb, as_group=False, as_positional=True, fail_untyped=True, sub_configs=True, skip=skip
    )
    if listed:  # one bare word or more, each of the list's item type
        parser.list_positional = listed[0]
        parser.add_argument(listed[0], type=listed[1], nargs="+", help=listed[2])
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


def _list_positional(verb: Callable[..., Any]) -> tuple[str, Any, str | None] | tuple[()]:
    """(name, item type, help) of the verb's positional parameter when it is its only one and a list."""
    from docstring_parser import parse  # what jsonargparse reads the other parameters' help with

    params = inspect.signature(verb).parameters.values()
    names = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
    names = [name for name in names if name != PASSED_ON]
    hint = typing.get_type_hints(verb).get(names[0]) if len(names) == 1 else None
    if typing.get_origin(hint) is not list:
        return ()
    docs = {doc.arg_name: doc.description for doc in parse(inspect.getdoc(verb) or "").params}
    return names[0], typing.get_args(hint)[0], docs.get(names[0])


def underscored(arg: str) -> str:
    """`--max_examples=3` for the spec's `--max-examples=3`; an argument that is no option as it is."""
    name, sep, value = arg[2:].partition("=")
    return "--" + name.replace("-", "_") + sep + value if arg.startswith("--") and name else arg


class VerbParser(ArgumentParser):
    """jsonargparse's parser, taking also the spellings the spec and the original tools use: `--max-examples` for
    `--max_examples`, a bool flag given bare (`--no_filter`) for `--no_filter true`, and a list positional's words
    after the options too (`A.ckpt --out D B.ckpt`). With `passes_on`, the arguments that are none of the verb's
    options are kept, in order, in `passed_on`, not refused. (Its nested parsers, made of this class, keep the
    defaults: jsonargparse's own behaviour besides the hyphens.)"""

    passes_on = False
    bool_flags: frozenset[str] = frozenset()
    list_positional: str | None = None

    def _parse_optional(self, arg_string):  # argparse's look-up of one argument among the options
        return super()._parse_optional(underscored(arg_string))

    def _parse_known_args(self, arg_strings, *args, **kwargs):  # argparse's parse, which jsonargparse's calls
        valued = [  # `--force` -> `--force=true` unless a value follows
            f"{arg}=true"
            if underscored(arg)[2:] in self.bool_flags and str(after).lower() not in ("true", "false")
            else arg
            for arg, after in zip_longest(arg_strings, arg_strings[1:])
        ]
        namespace, unknown = super()._parse_known_args(valued, *args, **kwargs)
        if self.passes_on:
            self.passed_on, unknown = [underscored(arg) for arg in unknown], []
        elif self.list_positional and unknown and not any(arg.startswith("-") for arg in unknown):
            namespace[self.list_positional], unknown = [*namespace[self.list_positional], *unknown], []
        return namespace, unknown
