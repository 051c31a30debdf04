"""The experiments' LightningCLI: model and data module of a YAML config, paths checked before anything loads."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Literal, NoReturn, Optional

CKPT_PATH_KEYWORDS = ("last", "best", "hpc", "registry")
Stage = Literal["sft", "grpo"]
STAGE_HELP = (
    "what the experiment trains: `sft` (VlmOcrModule + PageDataModule, the default) or `grpo` (vlm_ocr.rl's "
    "GrpoModule + BenchPageDataModule: GRPO with unit-test rewards)"
)


def build_cli(args: list[str] | None, run: bool = True) -> Any:
    """The LightningCLI of the experiments (imported lazily: the project's verbs start faster without it)."""
    from jsonargparse import ActionConfigFile
    from lightning.pytorch import Callback
    from lightning.pytorch import __version__ as lightning_version
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

    from vlm_ocr.config_errors import config_error

    argv = list(sys.argv[1:] if args is None else args)
    stage = experiment_stage(argv)
    model_class, data_class = stage_classes(stage)

    class OneLineErrorParser(LightningArgumentParser):
        """Options spelled in full only (no prefix matching), and a mistake raised as one UsageError line instead
        of the whole usage text (vlm_ocr.config_errors)."""

        def __init__(self, *parser_args: Any, **kwargs: Any) -> None:
            super().__init__(*parser_args, **{"allow_abbrev": False, **kwargs})

        def error(self, message: str, ex: Exception | None = None) -> NoReturn:
            if not self.exit_on_error:  # a parser inside another (a class_path's): the outer one reports
                super().error(message, ex)
            raise config_error(self, message, ex, argv) from None

    class ConfigFile(ActionConfigFile):
        """--config, where a later file changes the named `callbacks` name by name (null drops one) instead of
        replacing the whole mapping, as jsonargparse does with a mapping."""

        def __call__(self, parser, cfg, values, option_string=None):
            before = cfg.get("callbacks")
            super().__call__(parser, cfg, values, option_string)
            after = cfg.get("callbacks")
            if isinstance(before, dict) and isinstance(after, dict):
                cfg["callbacks"] = {**before, **after}

    class VlmOcrCLI(LightningCLI):
        """LightningCLI with named callbacks, the processor path linked to the model it belongs to, and paths
        checked up front."""

        def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
            kwargs.setdefault("dump_header", [f"lightning.pytorch=={lightning_version}"])
            parser = self.parser_class(**kwargs)
            parser.add_argument(
                "-c", "--config", action=ConfigFile, help="Path to a configuration file in json or yaml format."
            )
            return parser

        def add_arguments_to_parser(self, parser) -> None:
            parser.add_argument("--stage", type=Stage, default="sft", help=STAGE_HELP)
            parser.add_argument(
                "--callbacks",
                type=Optional[dict[str, Optional[Callback]]],  # noqa: UP045 (typing.Optional: merged across configs)
                default=None,
                help="The run's callbacks by name; a later --config changes or adds names (null drops one), "
                "--callbacks null drops them all. They run in this order, before any trainer.callbacks.",
            )
            parser.link_arguments("model.pretrained", "data.processor_path")
            if stage != "sft":
                return
            # what only the data side knows reaches the module once both exist: the module never looks for it
            parser.link_arguments("data.eval_names", "model.eval_names", apply_on="instantiate")
            parser.link_arguments("data.rotated_prompt", "model.rotated_prompt", apply_on="instantiate")

        def _parse_ckpt_path(self) -> None:
            # Lightning reads the hyperparameters of an explicit checkpoint file here, before the trainer's
            # checkpoint plugin sees it: a missing or corrupt file is handled first, as `--ckpt_path last` is.
            subcommand = self.config.get("subcommand")
            if subcommand:
                config = self.config[subcommand]
                config.ckpt_path = usable_ckpt_path(config.get("ckpt_path"))
            super()._parse_ckpt_path()

        def before_instantiate_classes(self) -> None:
            config = self.config[self.subcommand] if self.subcommand else self.config
            named_callbacks_first(config)
            check_model_path(config)
            if self.subcommand == "fit":
                continue_logger_version(self.config.fit)

        def _run_subcommand(self, subcommand: str) -> None:
            from vlm_ocr.checkpointing.run_folders import claimed_run_folders

            with claimed_run_folders(self.trainer, subcommand), warnings.catch_warnings():
                if subcommand == "fit" and self.config.fit.get("ckpt_path"):  # a resume writes beside its checkpoints
                    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
                super()._run_subcommand(subcommand)

    return VlmOcrCLI(
        model_class,
        data_class,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        parser_class=OneLineErrorParser,
        args=args,
        run=run,
    )


def named_callbacks_first(config: Any) -> None:
    """The named callbacks (top-level `callbacks`, merged name by name across --config files) become the first
    trainer.callbacks, in their order, the dropped (null) ones left out; the saved config then holds them there."""
    named = config.get("callbacks") or {}
    given = config.trainer.get("callbacks") or []
    given = given if isinstance(given, list) else [given]
    config.trainer.callbacks = [callback for callback in named.values() if callback is not None] + given
    config.callbacks = None


def experiment_stage(argv: list[str]) -> str:
    """The stage an experiment trains (`stage:` of its YAML files, later ones winning, or `--stage`): the classes
    its LightningCLI is built around. Unreadable files count as SFT here; the parser itself reports them."""
    import yaml

    stage = "sft"
    for i, arg in enumerate(argv):
        option, _, inline = arg.partition("=")
        value = inline if inline else (argv[i + 1] if i + 1 < len(argv) else "")
        if option == "--stage":
            stage = value
        elif option == "--config" and Path(value).is_file():
            try:
                loaded = yaml.safe_load(Path(value).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            if isinstance(loaded, dict) and isinstance(loaded.get("stage"), str):
                stage = loaded["stage"]
    return stage


def stage_classes(stage: str) -> tuple[type, type]:
    """(LightningModule, LightningDataModule) of a stage; an unknown stage keeps SFT's, the parser refuses it."""
    if stage == "grpo":
        from vlm_ocr.data.bench_datamodule import BenchPageDataModule
        from vlm_ocr.rl.module import GrpoModule

        return GrpoModule, BenchPageDataModule
    from vlm_ocr.data.datamodule import PageDataModule
    from vlm_ocr.model.module import VlmOcrModule

    return VlmOcrModule, PageDataModule


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
    from vlm_ocr.checkpointing.verified_files import usable_checkpoint
    from vlm_ocr.errors import UsageError

    if not Path(ckpt_path).exists():
        raise UsageError(f"--ckpt_path {ckpt_path}: no such checkpoint; give an existing checkpoint or `last`")
    return str(usable_checkpoint(Path(ckpt_path)))


def continue_logger_version(config: Any) -> None:
    """A fit resumed from a checkpoint logs to the logger version the checkpoint recorded (ResumableCheckpoint), not
    to a new `version_N`, unless a version is set; `--ckpt_path last` is looked up where the checkpoint callback
    saves `last.ckpt`."""
    from vlm_ocr.callbacks.resumable_checkpoint import logger_version

    logger, path = config.trainer.get("logger"), config.get("ckpt_path")
    init_args = logger.get("init_args") if hasattr(logger, "get") else None
    if not path or init_args is None or init_args.get("version") is not None:
        return
    if str(path) == "last":
        folders = [c.init_args.dirpath for c in config.trainer.get("callbacks") or [] if _saves_last(c)]
        path = next((Path(f) / "last.ckpt" for f in folders if (Path(f) / "last.ckpt").is_file()), None)
    version = logger_version(path) if path and Path(path).is_file() else None
    if version is not None:
        init_args.version = version


def _saves_last(callback: Any) -> bool:
    init_args = callback.get("init_args") if hasattr(callback, "get") else None
    return bool(init_args is not None and init_args.get("dirpath") and init_args.get("save_last"))
