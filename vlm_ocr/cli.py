"""The command line: LightningCLI subcommands fit/validate/test/predict plus the project's own verbs."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

CKPT_PATH_KEYWORDS = ("last", "best", "hpc", "registry")


def build_cli(args: list[str] | None, run: bool = True) -> Any:
    """The LightningCLI of the experiments (imported lazily: the project's verbs start faster without it)."""
    from lightning.pytorch.cli import LightningCLI

    from vlm_ocr.data.datamodule import PageDataModule
    from vlm_ocr.model.module import VlmOcrModule

    class VlmOcrCLI(LightningCLI):
        """LightningCLI with the processor path linked to the model it belongs to, and paths checked up front."""

        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("model.pretrained", "data.processor_path")

        def _parse_ckpt_path(self) -> None:
            # Lightning reads the hyperparameters of an explicit checkpoint file here, before the trainer's
            # checkpoint plugin sees it: a missing or corrupt file is handled first, as `--ckpt_path last` is.
            subcommand = self.config.get("subcommand")
            if subcommand:
                config = self.config[subcommand]
                config.ckpt_path = usable_ckpt_path(config.get("ckpt_path"))
            super()._parse_ckpt_path()

        def before_instantiate_classes(self) -> None:
            check_model_path(self.config[self.subcommand] if self.subcommand else self.config)

    return VlmOcrCLI(
        VlmOcrModule,
        PageDataModule,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        args=args,
        run=run,
    )


def check_model_path(config: Any) -> None:
    """Fail at once, naming the option, on a model folder that does not exist; record a local model folder as an
    absolute path, so that checkpoints and exports find it from any working directory."""
    from vlm_ocr.model.location import resolve_pretrained

    pretrained = resolve_pretrained(config.model.pretrained, "--model.pretrained")
    config.model.pretrained = pretrained
    config.data.processor_path = pretrained


def usable_ckpt_path(ckpt_path: Any) -> Any:
    """A checkpoint file as given when it verifies, else the newest valid one beside it (logged), exactly as the
    checkpoint plugin falls back for `last`; keywords (`last`, `best`, ...) pass through unchanged."""
    if not ckpt_path or str(ckpt_path) in CKPT_PATH_KEYWORDS:
        return ckpt_path
    from vlm_ocr.errors import UsageError
    from vlm_ocr.training.checkpoint_files import usable_checkpoint

    if not Path(ckpt_path).exists():
        raise UsageError(f"--ckpt_path {ckpt_path}: no such checkpoint; give an existing checkpoint or `last`")
    return str(usable_checkpoint(Path(ckpt_path)))


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
    from vlm_ocr.errors import UsageError
    from vlm_ocr.export.checkpoints import CheckpointError
    from vlm_ocr.training.checkpoint_files import CorruptCheckpoint

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
