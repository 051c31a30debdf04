"""The cluster configs are the recipe plus the documented differences, they build, and the launch scripts agree."""

import importlib.util
import subprocess
from pathlib import Path

import pytest
import yaml
from training_runs import REPO

from vlm_ocr.experiment_cli import build_cli

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
        ("mix_1025_fsdp.yaml", "vlm_ocr.strategies.FSDP2Strategy", ["GenerationMetrics", "ExportHuggingFace"], True),
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
    ours, recipe = config["model"]["optimizer"]["init_args"], RECIPE["model"]["optimizer"]["init_args"]
    hyperparameters = ("lr", "betas", "eps", "weight_decay")  # the optimizer class may suit the strategy (commented)
    assert {k: ours[k] for k in hyperparameters} == {k: recipe[k] for k in hyperparameters}
    skip = ["strategy", "callbacks", "plugins", *SHARED]
    model_keys = ["compile", "compile_dynamic", "optimizer"]
    assert without(config, skip, model_keys) == without(RECIPE, skip, model_keys)  # everything else: the recipe


def test_the_recipe_carries_the_fault_tolerance_pieces():
    assert {"Preemption", "NonFiniteGuard"} <= set(callbacks(RECIPE))
    assert RECIPE["trainer"]["plugins"][0]["class_path"] == "vlm_ocr.checkpointing.AtomicCheckpointIO"
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


CPU_RUN = [  # one CPU process, one step, nothing written: the config's strategy and precision set the model up
    "--trainer.accelerator",
    "cpu",
    "--trainer.devices",
    "1",
    "--model.compile",
    "false",
    "--trainer.max_steps",
    "1",
    "--trainer.accumulate_grad_batches",
    "1",
    "--trainer.limit_val_batches",
    "0",
    "--trainer.num_sanity_val_steps",
    "0",
    "--trainer.logger",
    "false",
    "--trainer.callbacks",
    "[]",
    "--trainer.enable_checkpointing",
    "false",
    "--data.num_workers",
    "0",
    "--data.train_roots",
    "[train/document]",
    "--data.eval_roots",
    "{}",
]


@pytest.mark.parametrize(
    ("name", "strategy"), [("mix_1025_ddp.yaml", "DDPStrategy"), ("mix_1025_fsdp.yaml", "FSDP2Strategy")]
)
def test_cluster_configs_train_with_float32_rotary_frequencies(name, strategy, cli_env):
    """bf16-true casts the module: the rotary frequencies stay the float32 ones the model was pretrained with."""
    import torch
    from rotary_state import FLOAT32_AND_FRESH, FrequencyRecorder

    cli = build_cli(["--config", str(EXPERIMENTS / name), *cli_env, *CPU_RUN], run=False)
    recorder = FrequencyRecorder()
    cli.trainer.callbacks.append(recorder)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert type(cli.trainer.strategy).__name__ == strategy
    assert next(cli.model.model.parameters()).dtype == torch.bfloat16
    assert len(recorder.seen) == 1 and len(recorder.seen[0]) == 4
    assert set(recorder.seen[0].values()) == {FLOAT32_AND_FRESH}


def test_deepspeed_bf16_casts_keep_float32_rotary_frequencies(tiny_vlm_dir):
    """What DeepSpeed does to the module (no deepspeed here): Lightning's DeepSpeedPrecision converts it, the engine
    calls `.bfloat16()`."""
    from lightning.pytorch.plugins.precision import DeepSpeedPrecision
    from rotary_state import FLOAT32_AND_FRESH, frequencies_state

    from vlm_ocr.model.loading import load_model

    config = yaml.safe_load((EXPERIMENTS / "deepspeed" / "mix_1025_deepspeed.yaml").read_text())
    precision = config["trainer"]["precision"]
    model = DeepSpeedPrecision(precision).convert_module(load_model(str(tiny_vlm_dir), "bfloat16", "sdpa")).bfloat16()
    state = frequencies_state(model)
    assert len(state) == 4 and set(state.values()) == {FLOAT32_AND_FRESH}


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
