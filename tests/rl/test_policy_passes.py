"""The reference pass: a frozen copy of the start model, or (LoRA) the policy itself with its adapters off."""

import torch
from PIL import Image

from vlm_ocr.data.processor import QwenInputs, load_processor
from vlm_ocr.data.transforms import BuildMessages
from vlm_ocr.model.loading import load_model
from vlm_ocr.model.peft import LoraSpec, apply_lora
from vlm_ocr.rl.policy_passes import FrozenReference, group_logprobs, reference_logprobs
from vlm_ocr.rl.rollout import HFRollout, RolloutPrompt, RolloutSpec


def test_lora_reference_is_the_base_model_and_the_copy_stays_the_start_model(tiny_vlm_dir):
    processor = load_processor(str(tiny_vlm_dir))
    model = load_model(str(tiny_vlm_dir), "float32", "sdpa")
    prompt = RolloutPrompt.from_page(Image.new("RGB", (56, 56), "white"), QwenInputs(processor), BuildMessages())
    rollout = HFRollout(model, processor.tokenizer, RolloutSpec(num_generations=2, max_new_tokens=4)).sample(
        [prompt], 0
    )
    start = group_logprobs(model, rollout, 0.7, 2048, None).detach()
    copy = FrozenReference(model)
    lora = apply_lora(model, LoraSpec(rank=4, alpha=8.0, dropout=0.0))
    with torch.no_grad():  # adapters that change the answer
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    assert not torch.allclose(group_logprobs(lora, rollout, 0.7, 2048, None), start, atol=1e-4)
    without = reference_logprobs(lora, None, rollout, 0.7, 2048, 1)  # one completion per forward
    assert torch.allclose(without, start, atol=1e-5) and not without.requires_grad
    assert all(p.requires_grad for n, p in lora.named_parameters() if "lora_" in n)  # adapters still train
    assert not torch.allclose(group_logprobs(lora, rollout, 0.7, 2048, None), start, atol=1e-4)  # back on
    assert torch.allclose(reference_logprobs(lora, copy, rollout, 0.7, 2048, None), start, atol=1e-5)
    assert not any(p.requires_grad for p in copy.model.parameters())
