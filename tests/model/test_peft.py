import lightning as L
import pytest
import torch
from tiny_setup import datamodule, module, trainer

from vlm_ocr.model.loading import load_model
from vlm_ocr.model.peft import (
    LoraSpec,
    apply_lora,
    complete_state_dict,
    has_lora,
    merge_lora,
    merged_state_dict,
    trainable_state_dict,
)

SPEC = LoraSpec(rank=4, alpha=8.0, dropout=0.0, extra_trainable=[r"model\.visual\.merger\.mlp\.2\..*"])


def lora_model(tiny_vlm_dir, spec=SPEC):
    model = apply_lora(load_model(str(tiny_vlm_dir), "float32", "sdpa"), spec)
    torch.manual_seed(3)
    for name, param in model.named_parameters():
        if ".lora_B." in name:  # B starts at zero; make the adapter do something
            param.data.normal_(0, 0.2)
    return model.eval()


def test_only_adapters_and_extras_train(tiny_vlm_dir):
    model = lora_model(tiny_vlm_dir)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n in trainable if ".lora_" in n} | {
        "model.visual.merger.mlp.2.weight",
        "model.visual.merger.mlp.2.bias",
    }
    adapted = {n.split(".lora_")[0] for n in trainable if ".lora_" in n}
    assert len(adapted) == 2 * 7  # q, k, v, o, gate, up, down in each of the 2 decoder layers
    assert not any(".visual." in n for n in adapted)  # the vision tower's MLPs are not targets
    assert model.get_submodule("model.language_model.layers.0.self_attn.q_proj").lora_A["default"].weight.shape == (
        4,
        32,
    )
    with pytest.raises(ValueError, match="not found in the base model"):
        apply_lora(load_model(str(tiny_vlm_dir), "float32", "sdpa"), LoraSpec(target_modules=r"nothing\.here"))


def test_merging_keeps_the_logits(tiny_vlm_dir):
    model = lora_model(tiny_vlm_dir)
    ids = torch.randint(0, 150000, (1, 24))
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits
        base = load_model(str(tiny_vlm_dir), "float32", "sdpa").eval()(input_ids=ids).logits
    merged_copy = merged_state_dict(model)
    assert has_lora(model)  # merged_state_dict leaves the model as it was
    merged = merge_lora(model)
    assert not has_lora(merged) and type(merged).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert merged_copy.keys() == merged.state_dict().keys()
    assert all(torch.equal(merged_copy[k], v) for k, v in merged.state_dict().items())
    with torch.no_grad():
        after = merged(input_ids=ids).logits
    assert (unmerged - base).abs().max() > 1e-3  # the adapter changes the output ...
    assert torch.allclose(after, unmerged, atol=1e-5, rtol=0)  # ... and merging keeps that change


def test_trainable_state_round_trip_and_mismatch(tiny_vlm_dir):
    model = lora_model(tiny_vlm_dir)
    saved = trainable_state_dict(model.state_dict(), model)
    assert saved and all(".lora_" in k or ".merger.mlp.2." in k for k in saved)
    assert complete_state_dict(saved, model).keys() == model.state_dict().keys()
    with pytest.raises(ValueError, match="missing trainable weights"):
        complete_state_dict({k: v for k, v in saved.items() if "layers.1." not in k}, model)
    with pytest.raises(ValueError, match="unexpected weights"):
        complete_state_dict({**saved, "model.extra.weight": torch.zeros(1)}, model)


class Recorder(L.Callback):
    def on_train_start(self, trainer, pl_module):
        self.start = {n: p.detach().clone() for n, p in pl_module.named_parameters() if ".lora_B." in n}


def test_lora_fit_saves_only_the_adapter_and_resumes(tmp_path, tiny_vlm_dir, sample_data_dir):
    data = datamodule(tiny_vlm_dir, sample_data_dir)

    def fit(max_steps, ckpt_path=None, callbacks=()):
        # lora as a dict, as LightningCLI keeps it in hparams
        system = module(tiny_vlm_dir, lr=5e-2, lora={"rank": 4, "alpha": 8.0, "dropout": 0.0})
        fitted = trainer(tmp_path, max_steps=max_steps, gradient_clip_val=None, callbacks=list(callbacks))
        fitted.fit(system, data, ckpt_path=ckpt_path)
        return system, fitted

    system, first = fit(1)
    first.save_checkpoint(tmp_path / "a.ckpt")
    saved = torch.load(tmp_path / "a.ckpt", weights_only=False)["state_dict"]
    assert saved and all(".lora_A." in k or ".lora_B." in k for k in saved)
    assert len(saved) == 2 * 7 * 2
    trained_b = {k: v for k, v in saved.items() if ".lora_B." in k}
    assert any(v.abs().max() > 0 for v in trained_b.values())  # B moved off its zero start

    recorder = Recorder()
    resumed, second = fit(2, ckpt_path=tmp_path / "a.ckpt", callbacks=[recorder])
    assert second.global_step == 2
    assert all(torch.equal(recorder.start[k], v) for k, v in trained_b.items())  # restored, then trained on
    assert all(torch.equal(p, saved_base) for p, saved_base in _frozen_pairs(resumed, system))


def _frozen_pairs(a, b):
    frozen = dict(b.named_parameters())
    return [(p, frozen[n]) for n, p in a.named_parameters() if not p.requires_grad]
