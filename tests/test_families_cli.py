"""Qwen3-VL and Qwen3.5 through the command line, as Qwen2.5-VL is in tests/test_cli.py: fit with validation and
freezing, export with the serving files, predict with the export, packing refused for Qwen3.5; slow: LoRA, FP8
export, inspect-data, packed fit. FSDP2 under bf16-true: tests/strategies; packing: tests/data/test_packing.py."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_setup import TINY_CONFIG, exporting_fit_args

from vlm_ocr.cli import main

NEW_FAMILIES = pytest.mark.parametrize("model_type", ["qwen3_vl", "qwen3_5"])
# Qwen3.5's tokenizer (248k tokens, 500k merges) takes seconds per load and its delta rule runs as PyTorch loops
# here: its CLI run of the same steps is slow (tests/data and tests/model keep its cheaper checks in the default suite)
QWEN3_VL_FAST = pytest.mark.parametrize("model_type", ["qwen3_vl", pytest.param("qwen3_5", marks=pytest.mark.slow)])
OVERLAYS = TINY_CONFIG.parent / "overlays"


@pytest.fixture
def family_env(cli_env, family_model_dir, request):
    """cli_env with the family's tiny model in place of Qwen2.5-VL's."""
    folder = family_model_dir(request.node.callspec.params["model_type"])
    return [*cli_env[:1], str(folder), *cli_env[2:]]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return {k: v for file in sorted(folder.glob("*.safetensors")) for k, v in load_file(file).items()}


@QWEN3_VL_FAST
def test_fit_validate_export_and_predict(model_type, family_env, family_model_dir, tmp_path):
    """Fit (2 steps and a validation, the recipe's freezing) exports a folder in which exactly the mergers and the
    decoder changed; `export` writes it in bf16 with exact parity and the serving files; `predict` answers the eval
    pages with the export."""
    from vlm_ocr.experiment_cli import build_cli

    fitted = tmp_path / "fitted"
    quick = ["--trainer.accumulate_grad_batches", "1", "--trainer.val_check_interval", "2"]
    cli = build_cli(["fit", *exporting_fit_args(family_env, fitted, *quick, "--trainer.limit_val_batches", "1")])
    assert cli.trainer.global_step == 2 and cli.trainer.callback_metrics["val/sample_eval/loss"] > 0
    base, trained = weights(family_model_dir(model_type)), weights(fitted)
    assert base.keys() == trained.keys()
    changed = {name for name in base if not torch.equal(base[name], trained[name])}
    mergers = ("model.visual.merger.", "model.visual.deepstack_merger_list.")
    assert {n for n in base if n.startswith("model.visual.")} - changed == {
        n for n in base if n.startswith("model.visual.") and not n.startswith(mergers)
    }
    assert any(n.startswith("model.language_model.") for n in changed) and any(n.startswith(mergers) for n in changed)

    exported = tmp_path / "bf16"
    assert main(["export", str(fitted), "--out", str(exported), *PARITY]) == 0
    assert json.loads((exported / "export_meta.json").read_text())["parity"]["exact"]
    for name in ("preprocessor_config.json", "chat_template.json", "vlm_ocr_inference.json"):
        assert (exported / name).is_file()
    settings = json.loads((exported / "vlm_ocr_inference.json").read_text())
    assert settings["stop_tokens"] == ["<|im_end|>", "<|endoftext|>"]
    assert settings["chat_template_kwargs"] == ({"enable_thinking": False} if model_type == "qwen3_5" else {})

    out = tmp_path / "pred"
    predict = ["--model.pretrained", str(exported), "--data.num_workers", "0", "--data.predict_paths", "[]"]
    predict += ["--data.predict_eval_datasets", "[sample_eval]", "--model.generation.max_new_tokens", "4"]
    predict += ["--trainer.callbacks+=vlm_ocr.callbacks.PredictionWriter", f"--trainer.callbacks.out_dir={out}"]
    predict += ["--trainer.limit_predict_batches", "1"]
    assert main(["predict", "--config", str(TINY_CONFIG), *family_env, *predict]) == 0
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    answered = [r for r in rows if "text" in r]
    assert answered and all(0 < r["tokens_out"] <= 4 and r["dataset"] == "sample_eval" for r in answered)


PARITY = ["--parity.longest_side", "224", "--parity.pages", "1", "--parity.new_tokens", "4"]


def test_qwen3_5_refuses_packed_training_with_one_line(family_model_dir, cli_env, capsys):
    args = ["fit", "--config", str(TINY_CONFIG), "--config", str(OVERLAYS / "packed.yaml"), *cli_env]
    args += ["--model.pretrained", str(family_model_dir("qwen3_5")), "--data.num_workers", "0"]
    assert main(args) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("fit: error: --data.pack_max_tokens 8192: packing is not exact for Qwen3.5")
    assert line.endswith("set data.pack_max_tokens: null (one page per row)")


@pytest.mark.slow  # another fit and three exports per family
@NEW_FAMILIES
def test_lora_fit_fp8_export_and_inspect_data(model_type, family_env, tmp_path):
    """LoRA (the family's default targets) fits and exports merged; its FP8 export passes within the bound; the
    `validate` subcommand runs on the merged folder; inspect-data shows the family's prompt and answer; Qwen3-VL
    also trains packed rows end to end."""
    lora = tmp_path / "lora"
    args = exporting_fit_args(family_env, lora)
    assert main(["fit", *args[:2], "--config", str(OVERLAYS / "lora.yaml"), *args[2:]]) == 0
    assert (lora / "config.json").is_file() and not any(".lora_" in k for k in weights(lora))
    fp8 = tmp_path / "fp8"
    assert main(["export", str(lora), "--out", str(fp8), "--quantize", "fp8", *PARITY]) == 0
    report = json.loads((fp8 / "export_meta.json").read_text())["parity"]
    assert report["passed"] and 0 < report["max_abs_diff"] <= report["bound"]

    validate = ["--model.pretrained", str(lora), "--data.num_workers", "0", "--trainer.limit_val_batches", "1"]
    assert main(["validate", "--config", str(TINY_CONFIG), *family_env, *validate]) == 0
    inspected = tmp_path / "inspect.jsonl"
    inspect = ["--split", "sample_eval", "--limit", "2", "--out", str(inspected)]
    assert main(["inspect-data", "--config", str(TINY_CONFIG), *family_env, *inspect]) == 0
    row = json.loads(inspected.read_text().splitlines()[0])
    t, h, w = row["image_grid_thw"][0]
    assert row["image_tokens"] == t * h * w // 4 and row["target"].endswith("<|im_end|>")
    assert row["prompt"].startswith("<|im_start|>user\n") and "<|im_start|>system" not in row["prompt"]
    if model_type == "qwen3_vl":
        packed = ["--config", str(OVERLAYS / "packed.yaml"), "--trainer.accumulate_grad_batches", "1"]
        assert main(["fit", *exporting_fit_args(family_env, tmp_path / "packed", *packed)]) == 0
