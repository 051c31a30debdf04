import json

import torch
from export_settings import FAST_PARITY
from safetensors import safe_open

from vlm_ocr.export.checkpoints import read_checkpoint
from vlm_ocr.export.run import export_model
from vlm_ocr.export.weights import build_model
from vlm_ocr.model.loading import load_model

DOWN = "model.layers.0.mlp.down_proj"  # as stored on disk (transformers writes the legacy key layout)


def quantization_config(out):
    return json.loads((out / "config.json").read_text())["quantization_config"]


def test_fp8_w8a8_export_reloads_within_the_bound(full_checkpoints, tmp_path, logits_of):
    out = tmp_path / "fp8"
    report = export_model([str(full_checkpoints[1])], out=out, quantize="fp8", parity=FAST_PARITY).parity
    assert report.passed and not report.exact and 0 < report.max_abs_diff <= 0.1 * report.max_abs_logit
    assert report.top1_agreement > 0.9

    config = quantization_config(out)
    assert config["quant_method"] == "compressed-tensors" and config["format"] == "float-quantized"
    assert config["ignore"] == ["lm_head", "re:visual.*", r"re:model\.visual\..*"]
    group = config["config_groups"]["group_0"]
    assert group["targets"] == ["Linear"]
    weights, inputs = group["weights"], group["input_activations"]
    assert (weights["type"], weights["num_bits"], weights["strategy"], weights["dynamic"]) == (
        "float",
        8,
        "channel",
        False,
    )
    assert (inputs["type"], inputs["num_bits"], inputs["strategy"], inputs["dynamic"]) == ("float", 8, "token", True)

    with safe_open(out / "model.safetensors", "pt") as f:
        keys = set(f.keys())
        quantized, scale = f.get_tensor(f"{DOWN}.weight"), f.get_tensor(f"{DOWN}.weight_scale")
        assert f.get_tensor("lm_head.weight").dtype == torch.bfloat16
        assert f.get_tensor("visual.blocks.0.mlp.down_proj.weight").dtype == torch.bfloat16
    assert quantized.dtype == torch.float8_e4m3fn and scale.shape == (32, 1) and scale.dtype == torch.bfloat16
    assert (
        not any(k.startswith("visual.") and k.endswith("_scale") for k in keys) and "lm_head.weight_scale" not in keys
    )
    assert sum(k.endswith(".weight_scale") for k in keys) == 2 * 7  # every decoder projection, nothing else
    source = read_checkpoint(full_checkpoints[1]).state["model.language_model.layers.0.mlp.down_proj.weight"]
    source = source.to(torch.bfloat16).float()
    error = (quantized.float() * scale.float() - source).abs()
    assert (error <= source.abs() / 16 + scale.float() / 512).all()  # e4m3: 3 mantissa bits, subnormals to 2^-9
    assert (source.abs().amax(1, keepdim=True) / scale.float() - 448).abs().max() < 448 / 128  # absmax maps to 448

    reloaded = load_model(str(out), "bfloat16", "sdpa")  # the production loader, through compressed-tensors
    assert reloaded.get_submodule("model.language_model.layers.0.mlp.down_proj").quantization_scheme is not None
    assert getattr(reloaded.get_submodule("model.visual.blocks.0.mlp.down_proj"), "quantization_scheme", None) is None
    assert getattr(reloaded.lm_head, "quantization_scheme", None) is None
    expected = logits_of(build_model(read_checkpoint(full_checkpoints[1]), None, "bfloat16"))
    difference = (logits_of(reloaded) - expected).abs().max()
    assert 0 < difference <= 0.1 * expected.abs().max()


def test_fp8_of_a_hf_folder_calibrated_on_pdf_pages_has_static_activation_scales(
    tiny_vlm_dir, sample_data_dir, tmp_path
):
    out = tmp_path / "fp8-static"
    pdfs = [str(sample_data_dir / "eval" / "document"), str(sample_data_dir / "eval" / "table")]
    report = export_model(
        [str(tiny_vlm_dir)], out=out, quantize="fp8", calibration_pdfs=pdfs, calibration_pages=2, parity=FAST_PARITY
    ).parity
    assert report.passed and report.max_abs_diff <= 0.1 * report.max_abs_logit
    inputs = quantization_config(out)["config_groups"]["group_0"]["input_activations"]
    assert (inputs["strategy"], inputs["dynamic"]) == ("tensor", False)
    with safe_open(out / "model.safetensors", "pt") as f:
        scales = {k: f.get_tensor(k) for k in f.keys() if k.endswith(".input_scale")}
    assert len(scales) == 2 * 7 and all(s.numel() == 1 and 0 < float(s) < 1 for s in scales.values())
    reloaded = load_model(str(out), "bfloat16", "sdpa")
    assert torch.equal(
        reloaded.get_submodule("model.language_model.layers.0.mlp.down_proj").input_scale, scales[f"{DOWN}.input_scale"]
    )
    assert json.loads((out / "export_meta.json").read_text())["quantization"]["activations"].startswith("static")
