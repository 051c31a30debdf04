import importlib.util
from pathlib import Path
from unittest.mock import ANY

import pytest
import torch
from parsed_configs import assert_as_captured

from vlm_ocr.data import PageDataModule
from vlm_ocr.experiment_cli import build_cli
from vlm_ocr.model.module import VlmOcrModule

ROOT = Path(__file__).resolve().parents[1] / "experiments"
EXPERIMENTS = sorted(p for p in ROOT.glob("*.yaml") if not p.name.startswith("grpo"))  # GRPO's: tests/rl
MIX, TINY, OVERLAYS = ROOT / "mix_1025.yaml", ROOT / "tiny.yaml", ROOT / "overlays"
RECIPE_OF = {  # every overlay and the recipe it goes on top of
    "ddp.yaml": MIX,
    "fsdp.yaml": MIX,
    "olmocr-adamw.yaml": MIX,
    "one-80gb-gpu.yaml": MIX,
    "packed.yaml": MIX,
    "lora.yaml": TINY,
    "reading.yaml": TINY,
    "qwen3-vl-8b.yaml": MIX,
    "qwen3.5-4b.yaml": MIX,
}
# What a multi-GPU overlay changes: 8 GPUs x 1 page x 4 = the recipe's 32 pages per optimizer step.
LAUNCH = {"trainer.devices", "trainer.strategy", "trainer.accumulate_grad_batches", "trainer.val_check_interval"}


def build(cli_env, *configs, extra=()):
    """The experiment CLI of `fit --config A --config B ...`, on CPU with the tiny model and sample pages."""
    args = [arg for config in configs for arg in ("--config", str(config))]
    return build_cli([*args, *cli_env, "--trainer.accelerator", "cpu", *extra], run=False)


@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_parses_and_instantiates(config, cli_env, tiny_vlm_dir, sample_data_dir, tmp_path):
    cli = build(cli_env, config)
    assert_as_captured(cli, (config,), tiny_vlm_dir, sample_data_dir, tmp_path)
    assert isinstance(cli.model, VlmOcrModule) and isinstance(cli.datamodule, PageDataModule)
    assert cli.datamodule.hparams.processor_path == cli.model.hparams.pretrained  # linked, given once
    assert cli.datamodule.pipeline.train_steps() and cli.trainer.gradient_clip_val == 1.0


def test_what_only_the_data_knows_reaches_the_module_at_instantiation(cli_env):
    """Eval names (they name the val losses and the checkpoint monitor) and the rotated-page prompt (predict's
    retry) come from the data module through the CLI's links: the module never looks at trainer.datamodule."""
    cli = build(cli_env, TINY)
    assert cli.model.eval_names == cli.datamodule.eval_names == ["sample_eval", "sample_train"]
    assert cli.model.rotated_prompt == cli.datamodule.rotated_prompt is not None
    assert "eval_names" not in cli.model.hparams and "rotated_prompt" not in cli.model.hparams


@pytest.mark.parametrize(
    "overlay", sorted(p for p in OVERLAYS.glob("*.yaml") if not p.name.startswith("grpo")), ids=lambda p: p.name
)
def test_every_overlay_on_its_recipe_parses_and_instantiates(overlay, cli_env, tiny_vlm_dir, sample_data_dir, tmp_path):
    cli = build(cli_env, RECIPE_OF[overlay.name], overlay)
    assert_as_captured(cli, (RECIPE_OF[overlay.name], overlay), tiny_vlm_dir, sample_data_dir, tmp_path)
    assert isinstance(cli.model, VlmOcrModule) and isinstance(cli.datamodule, PageDataModule)
    assert cli.datamodule.pipeline.train_steps() and cli.trainer.gradient_clip_val == 1.0


def test_recipe_values(cli_env):
    cli = build_cli(["--config", str(MIX), *cli_env, "--trainer.accelerator", "cpu"], run=False)
    model, data, trainer = cli.model, cli.datamodule, cli.trainer
    assert trainer.accumulate_grad_batches == 32 and trainer.gradient_clip_val == 1.0
    assert model.hparams.lr_scheduler == "linear" and model.hparams.warmup_ratio == 0.1
    assert model.hparams.compile and not model.hparams.train_vision_tower
    opt = model.optimizer_factory([{"params": [torch.nn.Parameter(torch.zeros(1))]}])
    assert type(opt).__name__ == "Bf16AdamW" and (opt.defaults["weights"], opt.defaults["moments"]) == (
        "kahan",
        "bfloat16",
    )
    assert opt.defaults["lr"] == 2e-5 and opt.defaults["betas"] == (0.9, 0.999)
    assert opt.defaults["eps"] == 1e-8 and opt.defaults["weight_decay"] == 0.01 and opt.seed == 300
    assert model.hparams.compile_dynamic is None  # shape-generic after the first length change
    assert data.hparams.max_length == 8192 and data.hparams.batch_size == 1 and data.hparams.data_seed == 301
    assert [type(t).__name__ for t in data.pipeline.train_steps()] == [
        "ParseFrontMatter",
        "FilterRotated",
        "ReformatLatexBoldItalic",
        "TextRuleFilter",
        "RenderPage",
        "RotationAugmentation",
        "FormatTarget",
        "BuildMessages",
    ]
    pipeline = data.pipeline
    assert pipeline.render.spec.longest_side == 1288 and pipeline.target.null_language == "None"
    assert pipeline.train_augmentations[0].probability == 0.02
    assert "processed_00_documents_eval_s2pdf" in data.eval_names and len(data.hparams.train_roots) == 4
    checkpoints = [c for c in trainer.callbacks if type(c).__name__ == "ResumableCheckpoint"]
    monitors = {c.monitor: c for c in checkpoints}
    assert monitors["step"].save_top_k == 5 and monitors["step"]._every_n_train_steps == 500
    assert monitors["val/processed_00_documents_eval_s2pdf/loss"].mode == "min"
    assert type(trainer.logger).__name__ == "WandbLogger"


def test_every_recipe_value_can_be_overridden(cli_env):
    cli = build_cli(
        [
            "--config",
            str(MIX),
            *cli_env,
            "--trainer.accelerator",
            "cpu",
            "--model.optimizer.init_args.lr",
            "1e-4",
            "--data.max_length",
            "4096",
            "--trainer.accumulate_grad_batches",
            "8",
            "--model.warmup_ratio",
            "0.05",
        ],
        run=False,
    )
    assert cli.model.optimizer_factory([{"params": [torch.nn.Parameter(torch.zeros(1))]}]).defaults["lr"] == 1e-4
    assert cli.datamodule.hparams.max_length == 4096 and cli.trainer.accumulate_grad_batches == 8
    assert cli.model.hparams.warmup_ratio == 0.05


def test_packed_overlay_changes_only_the_packing_keys(cli_env):
    overlay = OVERLAYS / "packed.yaml"
    plain = build_cli(["--config", str(MIX), *cli_env, "--trainer.accelerator", "cpu"], run=False)
    packed = build_cli(
        ["--config", str(MIX), "--config", str(overlay), *cli_env, "--trainer.accelerator", "cpu"], run=False
    )
    assert plain.datamodule.hparams.pack_max_tokens is None
    assert packed.datamodule.hparams.pack_max_tokens == 8192
    assert packed.trainer.accumulate_grad_batches == 10 and packed.model.hparams.loss_weighting == "page"
    assert packed.model.hparams.attn_implementation == "auto"
    assert packed.datamodule.hparams.max_length == plain.datamodule.hparams.max_length == 8192
    assert changed_keys(plain, packed) == {
        "trainer.accumulate_grad_batches",
        "trainer.val_check_interval",
        "data.pack_max_tokens",
    }


def test_olmocr_adamw_overlay_changes_only_the_optimizer(cli_env):
    overlay = OVERLAYS / "olmocr-adamw.yaml"
    recipe = build_cli(["--config", str(MIX), *cli_env, "--trainer.accelerator", "cpu"], run=False)
    original = build_cli(
        ["--config", str(MIX), "--config", str(overlay), *cli_env, "--trainer.accelerator", "cpu"], run=False
    )
    opt = original.model.optimizer_factory([{"params": [torch.nn.Parameter(torch.zeros(1))]}])
    assert type(opt) is torch.optim.AdamW and opt.defaults["betas"] == (0.9, 0.999)
    assert opt.defaults["lr"] == 2e-5 and opt.defaults["eps"] == 1e-8 and opt.defaults["weight_decay"] == 0.01
    assert changed_keys(recipe, original) == {"model.optimizer"}


def test_ddp_overlay_changes_only_the_launch_keys(cli_env):
    recipe, ddp = build(cli_env, MIX), build(cli_env, MIX, OVERLAYS / "ddp.yaml")
    assert changed_keys(recipe, ddp) == LAUNCH
    assert_launch_keys(ddp, recipe)
    strategy = ddp.config.trainer.strategy
    assert strategy.class_path == "lightning.pytorch.strategies.DDPStrategy"
    assert strategy.init_args.gradient_as_bucket_view


def test_fsdp_overlay_changes_the_launch_keys_and_what_fsdp2_needs(cli_env):
    recipe, fsdp = build(cli_env, MIX), build(cli_env, MIX, OVERLAYS / "fsdp.yaml")
    assert changed_keys(recipe, fsdp) == LAUNCH | {"model.compile", "trainer.callbacks"}
    assert_launch_keys(fsdp, recipe)
    assert fsdp.config.trainer.strategy.class_path == "vlm_ocr.strategies.FSDP2Strategy"
    assert callbacks(fsdp) == callbacks(recipe, leaving_out=("GenerationMetrics", "ExportHuggingFace"))
    assert optimizer(fsdp) == optimizer(recipe)  # Bf16AdamW steps DTensor shards as they are
    assert not fsdp.model.hparams.compile


def test_the_80gb_overlay_rounds_the_weights_stochastically_and_checkpoints(cli_env):
    recipe, small = build(cli_env, MIX), build(cli_env, MIX, OVERLAYS / "one-80gb-gpu.yaml")
    assert changed_keys(recipe, small) == {"model.optimizer", "model.gradient_checkpointing"}
    ours, theirs = optimizer(small), optimizer(recipe)
    assert ours["init_args"].pop("weights") == "stochastic" and theirs["init_args"].pop("weights") == "kahan"
    assert ours == theirs and small.model.hparams.gradient_checkpointing


def test_deepspeed_overlay_changes_the_launch_keys_and_what_zero3_needs(
    cli_env, tiny_vlm_dir, sample_data_dir, tmp_path
):
    """Built here with `--trainer.strategy ddp` where deepspeed is not installed: everything but the strategy."""
    zero3 = ROOT / "deepspeed" / "zero3.yaml"
    extra = () if importlib.util.find_spec("deepspeed") else ("--trainer.strategy", "ddp")
    recipe, deepspeed = build(cli_env, MIX), build(cli_env, MIX, zero3, extra=extra)
    assert_as_captured(deepspeed, (MIX, zero3), tiny_vlm_dir, sample_data_dir, tmp_path)
    compile_keys = {"model.compile"}
    assert changed_keys(recipe, deepspeed) == LAUNCH | compile_keys | {
        "trainer.plugins",
        "trainer.callbacks",
        "model.optimizer",
    }
    assert_launch_keys(deepspeed, recipe)
    assert deepspeed.config.trainer.plugins is None  # DeepSpeed writes its own checkpoint folders
    dropped = ("GenerationMetrics", "NonFiniteGuard", "ExportHuggingFace")
    assert callbacks(deepspeed) == callbacks(recipe, leaving_out=dropped)
    ours, theirs = optimizer(deepspeed)["init_args"], optimizer(recipe)["init_args"]
    assert optimizer(deepspeed)["class_path"] == "torch.optim.AdamW"  # ZeRO-3 keeps fp32 master weights
    assert {k: ours[k] for k in ("lr", "betas", "eps", "weight_decay")} == {
        k: theirs[k] for k in ("lr", "betas", "eps", "weight_decay")
    }
    assert not deepspeed.model.hparams.compile


def test_lora_overlay_changes_only_the_adapter_run_keys(cli_env):
    own_root = cli_env[: cli_env.index("--trainer.default_root_dir")]  # the overlay's run folder (cwd: a temp dir)
    tiny, lora = build(own_root, TINY), build(own_root, TINY, OVERLAYS / "lora.yaml")
    assert changed_keys(tiny, lora) == {
        "trainer.max_steps",
        "trainer.val_check_interval",
        "trainer.default_root_dir",
        "trainer.use_distributed_sampler",
        "trainer.plugins",
        "trainer.logger",
        "trainer.callbacks",
        "model.optimizer",
        "model.lora",
        "data.index_cache_dir",
    }
    assert lora.model.hparams.lora["rank"] == 8 and lora.model.hparams.lora["alpha"] == 16.0
    assert tiny.model.hparams.lora is None
    ours, theirs = optimizer(lora), optimizer(tiny)
    assert ours["init_args"].pop("lr") == 0.01 and theirs["init_args"].pop("lr") == 0.003
    assert ours == theirs  # the same AdamW otherwise
    assert lora.config.trainer.logger.init_args.save_dir == lora.config.trainer.default_root_dir == "runs/tiny-lora"
    assert [name for name, _ in callback_names(lora)] == [
        "ResumableCheckpoint",
        "StepLearningRateMonitor",
        "Telemetry",
        "StepProgressBar",
        "ParameterSummary",
        "ValidateBeforeFit",
        "ExportHuggingFace",
        "PredictionWriter",
    ]
    assert lora.datamodule.pipeline.train_steps() and lora.trainer.max_steps == 8


def assert_launch_keys(overlaid, recipe):
    trainer, one_gpu = overlaid.config.trainer, recipe.config.trainer
    assert trainer.devices == "auto" and trainer.num_nodes == 1 and trainer.use_distributed_sampler is False
    assert 8 * trainer.accumulate_grad_batches == one_gpu.accumulate_grad_batches == 32
    assert trainer.val_check_interval == 500 * trainer.accumulate_grad_batches  # every 500 optimizer steps


def callback_names(cli):
    return [(c["class_path"].rsplit(".", 1)[1], c) for c in cli.config.as_dict()["trainer"]["callbacks"]]


def callbacks(cli, leaving_out=()) -> list[dict]:
    """The configured callbacks, with their arguments, less the named classes."""
    return [c for name, c in callback_names(cli) if name not in leaving_out]


def optimizer(cli) -> dict:
    return cli.config.as_dict()["model"]["optimizer"]


def changed_keys(base, overlaid) -> set[str]:
    """The `section.key` values of trainer, data and model that an overlay changed."""
    before, after = base.config.as_dict(), overlaid.config.as_dict()
    return {
        f"{section}.{key}"
        for section in ("trainer", "data", "model")
        for key in before[section]
        if before[section][key] != after[section][key]
    }


@pytest.mark.parametrize("overlay", ["qwen3-vl-8b.yaml", "qwen3.5-4b.yaml"])
def test_base_model_overlays_change_only_the_model_and_the_page_size_its_patch_needs(overlay):
    """The overlay of a base model names it and renders pages for its 32-pixel tokens (patch 16, merge 2); the
    recipe's pipeline is otherwise unchanged."""
    import yaml

    recipe, ours = yaml.safe_load(MIX.read_text()), yaml.safe_load((OVERLAYS / overlay).read_text())
    assert ours == {"model": {"pretrained": ours["model"]["pretrained"]}, "data": {"render": {"init_args": ANY}}}
    assert set(ours["data"]["render"]["init_args"]) == {"longest_side"}
    assert ours["data"]["render"]["init_args"]["longest_side"] % 32 == 0
    assert recipe["data"]["render"]["class_path"] == "vlm_ocr.data.RenderPage"
