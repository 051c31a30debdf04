import logging

import pytest
import torch

from vlm_ocr.data.processor import load_processor
from vlm_ocr.model.loading import load_model, resolve_attn_implementation


def test_tiny_folder_loads_through_from_pretrained(tiny_vlm_dir):
    model = load_model(str(tiny_vlm_dir))
    assert model.dtype == torch.bfloat16
    assert model.config._attn_implementation == "sdpa_varlen"  # no flash-attn here
    processor = load_processor(str(tiny_vlm_dir))
    assert processor.tokenizer.convert_tokens_to_ids("<|image_pad|>") == model.config.image_token_id == 151655
    assert processor.image_processor.merge_size == 2 and processor.image_processor.patch_size == 14
    assert len(processor.tokenizer) >= 151665


def test_flash_attention_falls_back_cleanly(caplog):
    caplog.set_level(logging.INFO, logger="vlm_ocr.model.loading")
    if torch.cuda.is_available():
        pytest.skip("CUDA present: flash-attn may be usable")
    assert resolve_attn_implementation("flash_attention_2") == "sdpa_varlen"
    assert "falling back to sdpa_varlen" in caplog.text
    assert resolve_attn_implementation("auto") == "sdpa_varlen"
    assert resolve_attn_implementation("sdpa") == "sdpa"
    assert resolve_attn_implementation("eager") == "eager"


def test_liger_option_fails_clearly_without_the_package(tiny_vlm_dir):
    import importlib.util

    if importlib.util.find_spec("liger_kernel") is not None:
        pytest.skip("liger-kernel is installed")
    with pytest.raises(RuntimeError, match="pip install liger-kernel"):
        load_model(str(tiny_vlm_dir), liger_kernels=True)
