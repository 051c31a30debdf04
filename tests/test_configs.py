from pathlib import Path

import pytest
import torch

from vlm_ocr.data import PageDataModule
from vlm_ocr.experiment_cli import build_cli
from vlm_ocr.model.module import VlmOcrModule

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml"))
MIX = EXPERIMENTS[0].parent / "mix_1025.yaml"


@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_parses_and_instantiates(config, cli_env):
    cli = build_cli(["--config", str(config), *cli_env, "--trainer.accelerator", "cpu"], run=False)
    assert isinstance(cli.model, VlmOcrModule) and isinstance(cli.datamodule, PageDataModule)
    assert cli.datamodule.hparams.processor_path == cli.model.hparams.pretrained  # linked, given once
    assert cli.datamodule.transforms and cli.trainer.gradient_clip_val == 1.0


def test_recipe_values(cli_env):
    cli = build_cli(["--config", str(MIX), *cli_env, "--trainer.accelerator", "cpu"], run=False)
    model, data, trainer = cli.model, cli.datamodule, cli.trainer
    assert trainer.accumulate_grad_batches == 32 and trainer.gradient_clip_val == 1.0
    assert model.hparams.lr_scheduler == "linear" and model.hparams.warmup_ratio == 0.1
    assert model.hparams.compile and not model.hparams.train_vision_tower
    opt = model.optimizer_factory([{"params": [torch.nn.Parameter(torch.zeros(1))]}])
    assert type(opt).__module__.startswith("optimi") and opt.defaults["kahan_sum"] and not opt.defaults["decouple_lr"]
    assert opt.defaults["lr"] == 2e-5 and (opt.defaults["beta1"], opt.defaults["beta2"]) == (0.9, 0.999)
    assert opt.defaults["eps"] == 1e-8 and opt.defaults["weight_decay"] == 0.01
    assert data.hparams.max_length == 8192 and data.hparams.batch_size == 1 and data.hparams.data_seed == 301
    assert [type(t).__name__ for t in data.transforms] == [
        "ParseFrontMatter",
        "FilterRotated",
        "ReformatLatexBoldItalic",
        "TextRuleFilter",
        "RenderPage",
        "FormatTarget",
        "BuildMessages",
    ]
    assert data.transforms[4].spec.longest_side == 1288 and data.transforms[5].null_language == "None"
    assert [type(t).__name__ for t in data.train_steps()][-3:] == [
        "RotationAugmentation",
        "FormatTarget",
        "BuildMessages",
    ]
    assert data.train_transforms[0].probability == 0.02
    assert "processed_00_documents_eval_s2pdf" in data.eval_names and len(data.hparams.train_roots) == 4
    checkpoints = [c for c in trainer.callbacks if type(c).__name__ == "ModelCheckpoint"]
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
    overlay = EXPERIMENTS[0].parent / "overlays" / "packed.yaml"
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
        "model.compile_dynamic",
    }


def test_olmocr_adamw_overlay_changes_only_the_optimizer(cli_env):
    overlay = EXPERIMENTS[0].parent / "overlays" / "olmocr-adamw.yaml"
    recipe = build_cli(["--config", str(MIX), *cli_env, "--trainer.accelerator", "cpu"], run=False)
    original = build_cli(
        ["--config", str(MIX), "--config", str(overlay), *cli_env, "--trainer.accelerator", "cpu"], run=False
    )
    opt = original.model.optimizer_factory([{"params": [torch.nn.Parameter(torch.zeros(1))]}])
    assert type(opt) is torch.optim.AdamW and opt.defaults["betas"] == (0.9, 0.999)
    assert opt.defaults["lr"] == 2e-5 and opt.defaults["eps"] == 1e-8 and opt.defaults["weight_decay"] == 0.01
    assert changed_keys(recipe, original) == {"model.optimizer"}


def changed_keys(base, overlaid) -> set[str]:
    """The `section.key` values of trainer, data and model that an overlay changed."""
    before, after = base.config.as_dict(), overlaid.config.as_dict()
    return {
        f"{section}.{key}"
        for section in ("trainer", "data", "model")
        for key in before[section]
        if before[section][key] != after[section][key]
    }
