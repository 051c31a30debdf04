"""The cluster overlays on the recipe build and train, and the launch scripts name existing configs."""

import importlib.util
import subprocess
from pathlib import Path

import pytest
import yaml
from training_runs import REPO

from vlm_ocr.experiment_cli import build_cli

EXPERIMENTS = REPO / "experiments"
RECIPE_PATH, OVERLAYS = EXPERIMENTS / "mix_1025.yaml", EXPERIMENTS / "overlays"
RECIPE = yaml.safe_load(RECIPE_PATH.read_text())
ZERO3 = EXPERIMENTS / "deepspeed" / "zero3.yaml"


def on_recipe(overlay, *args):
    """The experiment CLI of `fit --config experiments/mix_1025.yaml --config <overlay> <args>`."""
    return build_cli(["--config", str(RECIPE_PATH), "--config", str(overlay), *args], run=False)


def callbacks(config):
    return [c["class_path"].rsplit(".", 1)[1] for c in config["callbacks"].values() if c]


def test_the_recipe_carries_the_fault_tolerance_pieces():
    assert {"Preemption", "NonFiniteGuard"} <= set(callbacks(RECIPE))
    assert RECIPE["trainer"]["plugins"][0]["class_path"] == "vlm_ocr.checkpointing.AtomicCheckpointIO"
    assert RECIPE["trainer"]["use_distributed_sampler"] is False


def test_the_fsdp_and_ddp_configs_build(cli_env):
    from lightning.pytorch.strategies import DDPStrategy

    from vlm_ocr.checkpointing import AtomicCheckpointIO
    from vlm_ocr.strategies import FSDP2Strategy

    ddp = on_recipe(OVERLAYS / "ddp.yaml", *cli_env, "--trainer.accelerator", "cpu")
    assert isinstance(ddp.trainer.strategy, DDPStrategy) and ddp.trainer.strategy._ddp_kwargs["gradient_as_bucket_view"]
    assert isinstance(ddp.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    fsdp = on_recipe(OVERLAYS / "fsdp.yaml", *cli_env, "--trainer.accelerator", "cpu")
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
    "--callbacks",
    "null",
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
    ("overlay", "strategy", "model_type"),
    [
        ("ddp.yaml", "DDPStrategy", "qwen2_5_vl"),
        ("fsdp.yaml", "FSDP2Strategy", "qwen2_5_vl"),
        ("fsdp.yaml", "FSDP2Strategy", "qwen3_vl"),
        pytest.param("fsdp.yaml", "FSDP2Strategy", "qwen3_5", marks=pytest.mark.slow),  # the delta rule: slow here
    ],
)
def test_cluster_configs_train_with_float32_rotary_frequencies(
    overlay, strategy, model_type, cli_env, family_model_dir
):
    """bf16-true casts the module: the rotary frequencies stay the float32 ones the model was pretrained with. Under
    FSDP2 every decoder layer and every merger (Qwen3-VL's DeepStack mergers too) is a sharded unit, the frozen ViT
    blocks are not."""
    import torch
    from rotary_state import FLOAT32_AND_FRESH, FrequencyRecorder
    from torch.distributed.fsdp import FSDPModule

    from vlm_ocr.model.families import family_of_model

    model = ["--model.pretrained", str(family_model_dir(model_type))]
    cli = on_recipe(OVERLAYS / overlay, *cli_env, *CPU_RUN, *model)
    recorder = FrequencyRecorder()
    cli.trainer.callbacks.append(recorder)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert type(cli.trainer.strategy).__name__ == strategy
    assert next(cli.model.model.parameters()).dtype == torch.bfloat16
    assert len(recorder.seen) == 1 and len(recorder.seen[0]) == 4
    assert set(recorder.seen[0].values()) == {FLOAT32_AND_FRESH}
    if strategy == "FSDP2Strategy":
        family = family_of_model(cli.model.model)
        units = [*family.decoder_layers(cli.model.model), *family.merger_modules(cli.model.model)]
        assert len(family.merger_modules(cli.model.model)) == (2 if model_type == "qwen3_vl" else 1)
        assert all(isinstance(unit, FSDPModule) for unit in units)
        assert not any(isinstance(block, FSDPModule) for block in family.vision_blocks(cli.model.model))


def test_deepspeed_bf16_casts_keep_float32_rotary_frequencies(tiny_vlm_dir):
    """What DeepSpeed does to the module (no deepspeed here): Lightning's DeepSpeedPrecision converts it, the engine
    calls `.bfloat16()`."""
    from lightning.pytorch.plugins.precision import DeepSpeedPrecision
    from rotary_state import FLOAT32_AND_FRESH, frequencies_state

    from vlm_ocr.model.loading import load_model

    precision = RECIPE["trainer"]["precision"]
    assert "precision" not in yaml.safe_load(ZERO3.read_text())["trainer"]  # the recipe's, under ZeRO-3 too
    model = DeepSpeedPrecision(precision).convert_module(load_model(str(tiny_vlm_dir), "bfloat16", "sdpa")).bfloat16()
    state = frequencies_state(model)
    assert len(state) == 4 and set(state.values()) == {FLOAT32_AND_FRESH}


def test_the_deepspeed_config_parses_and_builds_where_deepspeed_is_installed(cli_env):
    if importlib.util.find_spec("deepspeed") is None:  # here: everything but the strategy itself
        cli = on_recipe(ZERO3, *cli_env, "--trainer.accelerator", "cpu", "--trainer.strategy", "ddp")
        assert cli.datamodule.hparams.train_roots == RECIPE["data"]["train_roots"]
        strategy = yaml.safe_load(ZERO3.read_text())["trainer"]["strategy"]
        assert strategy["class_path"] == "lightning.pytorch.strategies.DeepSpeedStrategy"
        assert strategy["init_args"]["stage"] == 3
    else:
        cli = on_recipe(ZERO3, *cli_env)
        assert type(cli.trainer.strategy).__name__ == "DeepSpeedStrategy" and cli.trainer.strategy.config is not None


@pytest.mark.parametrize("script", sorted((REPO / "scripts" / "slurm").glob("*.sbatch")), ids=lambda p: p.name)
def test_slurm_scripts_are_valid_bash_and_name_existing_configs(script: Path):
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    for variable in ("CONFIG", "OVERLAY"):  # the recipe and the strategy's overlay on top of it
        config = text.split(f"{variable}=${{{variable}:-", 1)[1].split("}", 1)[0]
        assert (REPO / config).is_file()
    launch = ('--config "$CONFIG" --config "$OVERLAY"', "--ckpt_path last", "srun ")
    for needed in ("#SBATCH --requeue", "#SBATCH --signal=USR1@", *launch):
        assert needed in text
