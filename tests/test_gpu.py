"""CUDA checks (run with `make test-gpu` on a GPU machine; skipped elsewhere)."""

import importlib.util

import pytest
import torch

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("model_type", ["qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("attn", ["sdpa_varlen", "sdpa", "flash_attention_2"])
def test_bf16_training_step_packed_equals_unpacked(attn, model_type, family_model_dir, sample_data_dir):
    if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        pytest.skip("flash-attn is not installed")
    from tiny_setup import datamodule

    from vlm_ocr.data.packing import PackCollator
    from vlm_ocr.model.module import VlmOcrModule

    tiny_vlm_dir = family_model_dir(model_type)
    data = datamodule(tiny_vlm_dir, sample_data_dir, train="train")
    data.setup("fit")
    samples = [s for s in (data.train_set[(0, i)] for i in range(len(data.train_set))) if "dropped" not in s][:3]
    system = VlmOcrModule(str(tiny_vlm_dir), dtype="bfloat16", attn_implementation=attn)
    system.configure_model()
    system.model.cuda().train()
    assert system.model.config._attn_implementation == attn

    def cuda(batch):
        return {k: v.cuda() if torch.is_tensor(v) else v for k, v in batch.items()}

    collate = data.train_dataloader().collate_fn
    alone = torch.stack([system.compute_loss(cuda(collate([s]))).loss for s in samples]).mean()
    packed = system.compute_loss(cuda(PackCollator(data.inputs.pad_id, 8192)(samples))).loss
    packed.backward()
    assert torch.isfinite(packed) and abs(packed.item() - alone.item()) < 0.05
    assert system.model.lm_head.weight.grad is not None


def test_sdpa_varlen_on_cuda_matches_the_dense_mask_in_bf16():
    from attention_cases import GroupedAttention, block_causal_mask, packed_positions
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from vlm_ocr.model.attention import sdpa_varlen_attention

    positions = packed_positions([[700, 300, 1000], [2000]]).cuda()
    generator = torch.Generator(device="cuda").manual_seed(0)
    query = torch.randn(2, 28, 2000, 128, device="cuda", dtype=torch.bfloat16, generator=generator)
    key, value = (torch.randn(2, 4, 2000, 128, device="cuda", dtype=torch.bfloat16, generator=generator) for _ in "kv")
    module = GroupedAttention()
    module.num_key_value_groups = 7
    varlen, _ = sdpa_varlen_attention(module, query, key, value, None, position_ids=positions)
    dense, _ = sdpa_attention_forward(module, query, key, value, block_causal_mask(positions), is_causal=False)
    torch.testing.assert_close(varlen.float(), dense.float(), rtol=2e-2, atol=2e-2)
