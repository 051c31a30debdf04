"""The cluster configs are the recipe plus the documented differences, they build, and the launch scripts agree."""

import importlib.util
import subprocess
from pathlib import Path

import pytest
import yaml
from training_runs import REPO

from vlm_ocr.cli import build_cli

EXPERIMENTS = REPO / "experiments"
RECIPE = yaml.safe_load((EXPERIMENTS / "mix_1025.yaml").read_text())
SHARED = {"devices": "auto", "num_nodes": 1, "accumulate_grad_batches": 4, "val_check_interval": 2000}


def callbacks(config):
    return [c["class_path"].rsplit(".", 1)[1] for c in config["trainer"]["callbacks"]]


def without(config, trainer_keys=(), model_keys=()):
    trainer = {k: v for k, v in config["trainer"].items() if k not in trainer_keys}
    model = {k: v for k, v in config["model"].items() if k not in model_keys}
    return {**config, "trainer": trainer, "model": model}


@pytest.mark.parametrize(
    ("name", "strategy", "dropped", "plugins"),
    [
        ("mix_1025_ddp.yaml", "lightning.pytorch.strategies.DDPStrategy", [], True),
        ("mix_1025_fsdp.yaml", "vlm_ocr.training.FSDP2Strategy", ["GenerationMetrics", "ExportHuggingFace"], True),
        (
            "deepspeed/mix_1025_deepspeed.yaml",
            "lightning.pytorch.strategies.DeepSpeedStrategy",
            ["GenerationMetrics", "NonFiniteGuard", "ExportHuggingFace"],
            False,
        ),
    ],
)
def test_cluster_configs_differ_from_the_recipe_only_where_documented(name, strategy, dropped, plugins):
    config = yaml.safe_load((EXPERIMENTS / name).read_text())
    trainer = config["trainer"]
    assert trainer["strategy"]["class_path"] == strategy and trainer["use_distributed_sampler"] is False
    assert {k: trainer[k] for k in SHARED} == SHARED
    assert callbacks(config) == [c for c in callbacks(RECIPE) if c not in dropped]
    assert ("plugins" in trainer) == plugins
    assert config["model"]["compile"] is (name == "mix_1025_ddp.yaml")
    skip = ["strategy", "callbacks", "plugins", *SHARED]
    compiling = ["compile", "compile_dynamic"]
    assert without(config, skip, compiling) == without(RECIPE, skip, compiling)  # everything else: the recipe


def test_the_recipe_carries_the_fault_tolerance_pieces():
    assert {"Preemption", "NonFiniteGuard"} <= set(callbacks(RECIPE))
    assert RECIPE["trainer"]["plugins"][0]["class_path"] == "vlm_ocr.training.AtomicCheckpointIO"
    assert RECIPE["trainer"]["use_distributed_sampler"] is False


def test_the_fsdp_and_ddp_configs_build(cli_env):
    from lightning.pytorch.strategies import DDPStrategy

    from vlm_ocr.training import AtomicCheckpointIO, FSDP2Strategy

    ddp = build_cli(
        ["--config", str(EXPERIMENTS / "mix_1025_ddp.yaml"), *cli_env, "--trainer.accelerator", "cpu"], False
    )
    assert isinstance(ddp.trainer.strategy, DDPStrategy) and ddp.trainer.strategy._ddp_kwargs["gradient_as_bucket_view"]
    assert isinstance(ddp.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    fsdp = build_cli(
        ["--config", str(EXPERIMENTS / "mix_1025_fsdp.yaml"), *cli_env, "--trainer.accelerator", "cpu"], False
    )
    assert isinstance(fsdp.trainer.strategy, FSDP2Strategy)


def test_the_deepspeed_config_parses_and_builds_where_deepspeed_is_installed(cli_env):
    args = ["--config", str(EXPERIMENTS / "deepspeed" / "mix_1025_deepspeed.yaml"), *cli_env]
    if importlib.util.find_spec("deepspeed") is None:  # here: everything but the strategy itself
        cli = build_cli([*args, "--trainer.accelerator", "cpu", "--trainer.strategy", "ddp"], run=False)
        assert cli.datamodule.hparams.train_roots == RECIPE["data"]["train_roots"]
    else:
        cli = build_cli(args, run=False)
        assert type(cli.trainer.strategy).__name__ == "DeepSpeedStrategy" and cli.trainer.strategy.config is not None


@pytest.mark.parametrize("script", sorted((REPO / "scripts" / "slurm").glob("*.sbatch")), ids=lambda p: p.name)
def test_slurm_scripts_are_valid_bash_and_name_existing_configs(script: Path):
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    config = text.split("CONFIG=${CONFIG:-", 1)[1].split("}", 1)[0]
    assert (REPO / config).is_file()
    for needed in ("#SBATCH --requeue", "#SBATCH --signal=USR1@", "--ckpt_path last", "srun "):
        assert needed in text
