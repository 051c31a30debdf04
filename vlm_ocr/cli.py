"""The command line: LightningCLI subcommands fit/validate/test/predict plus the project's own verbs."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from typing import Any


def build_cli(args: list[str], run: bool = True) -> Any:
    """The LightningCLI of the experiments (imported lazily: the project's verbs start faster without it)."""
    from lightning.pytorch.cli import LightningCLI

    from vlm_ocr.data.datamodule import PageDataModule
    from vlm_ocr.model.module import VlmOcrModule

    class VlmOcrCLI(LightningCLI):
        """LightningCLI with the processor path linked to the model it belongs to."""

        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("model.pretrained", "data.processor_path")

    return VlmOcrCLI(
        VlmOcrModule,
        PageDataModule,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        args=args,
        run=run,
    )


def configure_logging() -> None:
    """Send the project's INFO logs to stderr; Lightning and transformers keep their own handlers."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package = logging.getLogger("vlm_ocr")
    if not package.handlers:
        package.addHandler(handler)
    package.setLevel(logging.INFO)
    package.propagate = False
    # Known-noisy, harmless messages; everything else stays visible.
    warnings.filterwarnings("ignore", message=".*does not have many workers.*", module="lightning")
    warnings.filterwarnings("ignore", message=".*`max_pixels` and `min_pixels`.*")


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
    """Entry point of `python -m vlm_ocr` and the `vlm-ocr` console script."""
    configure_logging()
    argv = list(sys.argv[1:] if args is None else args)
    verbs = _verbs()
    if argv and argv[0] in verbs:
        return verbs[argv[0]](argv[1:]) or 0
    if argv and argv[0] in ("-h", "--help"):
        print("project verbs: " + ", ".join(sorted(verbs)) + " (each has --help)\n")
    build_cli(argv)
    return 0
