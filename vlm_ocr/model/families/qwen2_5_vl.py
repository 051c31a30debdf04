"""Qwen2.5-VL: architecture presets (tiny for tests, the full 7B shape for benchmarks), tokens and parts."""

from __future__ import annotations

from typing import Any

from vlm_ocr.model.families.base import ModelFamily, Shape
from vlm_ocr.model.families.chat_templates import QWEN2_5_VL_TEMPLATE
from vlm_ocr.model.families.tokenizer_files import qwen3_tokenizer

SPECIAL_TOKEN_IDS = {
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "pad_token_id": 151643,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "image_token_id": 151655,
    "video_token_id": 151656,
}
VOCAB_SIZE = 152064  # embedding rows of the released checkpoint (the tokenizer has fewer entries)

IMAGE_PROCESSOR_SETTINGS = {
    "min_pixels": 56 * 56,
    "max_pixels": 28 * 28 * 16384,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "text": dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            mrope_section=[2, 1, 1],
            max_position_embeddings=32768,
        ),
        "vision": dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=4, window_size=28, fullatt_block_indexes=[1]
        ),
    },
    "qwen2.5-vl-7b": {
        "text": dict(
            hidden_size=3584,
            intermediate_size=18944,
            num_hidden_layers=28,
            num_attention_heads=28,
            num_key_value_heads=4,
            mrope_section=[16, 24, 24],
            max_position_embeddings=128000,
        ),
        "vision": dict(
            depth=32,
            hidden_size=1280,
            intermediate_size=3420,
            num_heads=16,
            window_size=112,
            fullatt_block_indexes=[7, 15, 23, 31],
        ),
    },
}


def build_config(shape: Shape, decoder_layers: int | None = None, vision_depth: int | None = None) -> Any:
    """A Qwen2_5_VLConfig of the preset's shape with the released checkpoint's token ids and rope.

    A shallower vision tower keeps full attention in its last block.
    """
    from transformers import Qwen2_5_VLConfig

    text = dict(shape["text"])
    mrope_section = text.pop("mrope_section")
    vision = dict(shape["vision"])
    if decoder_layers:
        text["num_hidden_layers"] = decoder_layers
    if vision_depth:
        vision["depth"] = vision_depth
        vision["fullatt_block_indexes"] = [vision_depth - 1]
    return Qwen2_5_VLConfig(
        text_config=dict(
            **text,
            vocab_size=VOCAB_SIZE,
            hidden_act="silu",
            rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": mrope_section},
            tie_word_embeddings=False,
            **SPECIAL_TOKEN_IDS,
        ),
        vision_config=dict(
            **vision,
            hidden_act="silu",
            patch_size=14,
            temporal_patch_size=2,
            spatial_merge_size=2,
            in_channels=3,
            out_hidden_size=text["hidden_size"],
            tokens_per_second=2,
        ),
        tie_word_embeddings=False,
        **SPECIAL_TOKEN_IDS,
    )


QWEN2_5_VL = ModelFamily(
    name="Qwen2.5-VL",
    model_type="qwen2_5_vl",
    model_class="Qwen2_5_VLForConditionalGeneration",
    config_class="Qwen2_5_VLConfig",
    processor_class="Qwen2_5_VLProcessor",
    video_processor_class="Qwen2VLVideoProcessor",
    chat_template=QWEN2_5_VL_TEMPLATE,
    chat_template_kwargs={},
    presets=PRESETS,
    build_config=build_config,
    build_tokenizer=qwen3_tokenizer,  # Qwen2.5's vocabulary and added tokens, plus Qwen3's four
    image_processor_settings=IMAGE_PROCESSOR_SETTINGS,
    # attention and MLP projections of the language model only: the vision tower has its own gate/up/down_proj
    lora_targets=r"model\.language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)",
    fp8_ignore=("lm_head", "re:visual.*", r"re:model\.visual\..*"),
    liger=("apply_liger_kernel_to_qwen2_5_vl", {"rope": True, "rms_norm": True, "swiglu": True}),
)
