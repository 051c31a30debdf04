"""CUDA checks (run with `make test-gpu` on a GPU machine; skipped elsewhere)."""

import pytest
import torch

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("attn", ["sdpa", "flash_attention_2"])
def test_bf16_training_step_packed_equals_unpacked(attn, tiny_vlm_dir, sample_data_dir):
    import importlib.util

    if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        pytest.skip("flash-attn is not installed")
    import sys
    from pathlib import Path

    from vlm_ocr.data.packing import PackCollator

    sys.path.insert(0, str(Path(__file__).parent / "model"))
    from tiny_setup import datamodule

    from vlm_ocr.model.module import VlmOcrModule

    data = datamodule(tiny_vlm_dir, sample_data_dir, train="train")
    data.setup("fit")
    samples = [s for s in (data.train_set[(0, i)] for i in range(len(data.train_set))) if "dropped" not in s][:3]
    system = VlmOcrModule(str(tiny_vlm_dir), dtype="bfloat16", attn_implementation=attn)
    system.configure_model()
    system.model.cuda().train()

    def cuda(batch):
        return {k: v.cuda() if torch.is_tensor(v) else v for k, v in batch.items()}

    collate = data.train_dataloader().collate_fn
    alone = torch.stack([system._loss(cuda(collate([s])))[0] for s in samples]).mean()
    packed, _ = system._loss(cuda(PackCollator(data.inputs.pad_id, 8192)(samples)))
    packed.backward()
    assert torch.isfinite(packed) and abs(packed.item() - alone.item()) < 0.05
    assert system.model.lm_head.weight.grad is not None
