import json

import torch
from export_settings import FAST_PARITY
from safetensors import safe_open

from vlm_ocr.export.checkpoints import read_checkpoint
from vlm_ocr.export.run import export_model
from vlm_ocr.model.loading import load_model
from vlm_ocr.model.module import VlmOcrModule

HF_FILES = {
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "processor_config.json",
    "preprocessor_config.json",
    "chat_template.json",
    "vlm_ocr_inference.json",
    "chat_template.jinja",
    "export_meta.json",
}


def test_lora_checkpoint_exports_merged_with_the_unmerged_logits(lora_checkpoints, tiny_vlm_dir, tmp_path, logits_of):
    checkpoint = lora_checkpoints[1]
    assert all(".lora_" in k or ".merger.mlp.2." in k for k in read_checkpoint(checkpoint).state)  # adapter only
    unmerged = VlmOcrModule.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=False).model
    out = tmp_path / "merged"
    result = export_model([str(checkpoint)], out=out, dtype="float32", parity=FAST_PARITY)

    assert result.parity.passed and result.parity.exact and result.parity.max_abs_diff == 0.0
    assert {p.name for p in out.iterdir()} == HF_FILES
    with safe_open(out / "model.safetensors", "pt") as f:
        assert not any("lora" in k or "base_layer" in k for k in f.keys())
    reloaded = load_model(str(out), "float32", "sdpa")
    base = load_model(str(tiny_vlm_dir), "float32", "sdpa")
    expected = logits_of(unmerged)
    assert (expected - logits_of(base)).abs().max() > 1e-3  # training moved the adapter
    assert torch.allclose(logits_of(reloaded), expected, atol=1e-5, rtol=0)
    at_fit_end = load_model(str(checkpoint.parent / "hf_model"), "float32", "sdpa")  # the callback merges too
    assert torch.allclose(logits_of(at_fit_end), expected, atol=1e-5, rtol=0)
    meta = json.loads((out / "export_meta.json").read_text())
    assert meta["sources"][0]["kind"] == "lightning" and meta["base"] == str(tiny_vlm_dir)


def test_peft_adapter_folder_exports_merged(tiny_vlm_dir, tmp_path, logits_of):
    from peft import get_peft_model

    from vlm_ocr.model.peft import LoraSpec, lora_config

    base = load_model(str(tiny_vlm_dir), "float32", "sdpa")
    model = get_peft_model(base, lora_config(LoraSpec(rank=2), base))
    torch.manual_seed(5)
    for name, param in model.named_parameters():
        if ".lora_B." in name:
            param.data.normal_(0, 0.2)
    model.save_pretrained(tmp_path / "adapter")
    out = tmp_path / "merged"
    export_model([str(tmp_path / "adapter")], out=out, dtype="float32", parity=FAST_PARITY)
    assert torch.allclose(logits_of(load_model(str(out), "float32", "sdpa")), logits_of(model), atol=1e-5, rtol=0)
