"""Qwen3-VL (dense): presets (tiny, and the released 2B / 4B / 8B shapes), tokens and parts.

Patch 16 (merge 2: one decoder token per 32 x 32 pixels), a learned position embedding in the vision tower, and
DeepStack: besides the merger, one merger per `deepstack_visual_indexes` block whose features are added to the
first decoder layers' hidden states at the image positions. Same vocabulary as Qwen2.5-VL (Qwen3's tokenizer).
"""

from __future__ import annotations

from typing import Any

from vlm_ocr.model.families.base import ModelFamily, Shape
from vlm_ocr.model.families.chat_templates import QWEN3_VL_TEMPLATE
from vlm_ocr.model.families.tokenizer_files import qwen3_tokenizer

SPECIAL_TOKEN_IDS = {
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "image_token_id": 151655,
    "video_token_id": 151656,
}
TEXT_TOKEN_IDS = {"bos_token_id": 151643, "eos_token_id": 151645, "pad_token_id": 151643}
VOCAB_SIZE = 151936

IMAGE_PROCESSOR_SETTINGS = {
    "size": {"shortest_edge": 65536, "longest_edge": 16777216},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
}

_VISION_SMALL = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16)
_VISION_LARGE = dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16)
_VISION_SMALL["deepstack_visual_indexes"] = [5, 11, 17]  # the ViT blocks whose features DeepStack adds
_VISION_LARGE["deepstack_visual_indexes"] = [8, 16, 24]
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "qwen3-vl-tiny": {
        "text": dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            mrope_section=[2, 1, 1],
            max_position_embeddings=32768,
            tie_word_embeddings=False,
        ),
        "vision": dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, deepstack_visual_indexes=[0]),
    },
    "qwen3-vl-2b": {
        "text": dict(
            hidden_size=2048,
            intermediate_size=6144,
            num_hidden_layers=28,
            num_attention_heads=16,
            num_key_value_heads=8,
            head_dim=128,
            mrope_section=[24, 20, 20],
            max_position_embeddings=262144,
            tie_word_embeddings=True,
        ),
        "vision": _VISION_SMALL,
    },
    "qwen3-vl-4b": {
        "text": dict(
            hidden_size=2560,
            intermediate_size=9728,
            num_hidden_layers=36,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            mrope_section=[24, 20, 20],
            max_position_embeddings=262144,
            tie_word_embeddings=True,
        ),
        "vision": _VISION_SMALL,
    },
    "qwen3-vl-8b": {
        "text": dict(
            hidden_size=4096,
            intermediate_size=12288,
            num_hidden_layers=36,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            mrope_section=[24, 20, 20],
            max_position_embeddings=262144,
            tie_word_embeddings=False,
        ),
        "vision": _VISION_LARGE,
    },
}


def build_config(shape: Shape, decoder_layers: int | None = None, vision_depth: int | None = None) -> Any:
    """A Qwen3VLConfig of the preset's shape with the released checkpoints' token ids and interleaved mRoPE.

    A shallower vision tower keeps the DeepStack blocks it still has (at least its last block).
    """
    from transformers import Qwen3VLConfig

    text = dict(shape["text"])
    mrope_section = text.pop("mrope_section")
    tie = text.pop("tie_word_embeddings")
    vision = dict(shape["vision"])
    if decoder_layers:
        text["num_hidden_layers"] = decoder_layers
    if vision_depth:
        vision["depth"] = vision_depth
        vision["deepstack_visual_indexes"] = [i for i in vision["deepstack_visual_indexes"] if i < vision_depth] or [
            vision_depth - 1
        ]
    rope = {"rope_type": "default", "rope_theta": 5e6, "mrope_section": mrope_section, "mrope_interleaved": True}
    return Qwen3VLConfig(
        text_config=dict(
            **text,
            vocab_size=VOCAB_SIZE,
            hidden_act="silu",
            rms_norm_eps=1e-6,
            rope_parameters=rope,
            tie_word_embeddings=tie,
            **TEXT_TOKEN_IDS,
        ),
        vision_config=dict(
            **vision,
            hidden_act="gelu_pytorch_tanh",
            patch_size=16,
            temporal_patch_size=2,
            spatial_merge_size=2,
            in_channels=3,
            num_position_embeddings=2304,
            out_hidden_size=text["hidden_size"],
        ),
        tie_word_embeddings=tie,
        **SPECIAL_TOKEN_IDS,
    )


QWEN3_VL = ModelFamily(
    name="Qwen3-VL",
    model_type="qwen3_vl",
    model_class="Qwen3VLForConditionalGeneration",
    config_class="Qwen3VLConfig",
    processor_class="Qwen3VLProcessor",
    video_processor_class="Qwen3VLVideoProcessor",
    chat_template=QWEN3_VL_TEMPLATE,
    chat_template_kwargs={},
    presets=PRESETS,
    build_config=build_config,
    build_tokenizer=qwen3_tokenizer,
    image_processor_settings=IMAGE_PROCESSOR_SETTINGS,
    lora_targets=r"model\.language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)",
    fp8_ignore=("lm_head", "re:visual.*", r"re:model\.visual\..*"),
    liger=("apply_liger_kernel_to_qwen3_vl", {"rope": True, "rms_norm": True, "swiglu": True}),
    mergers=("merger", "deepstack_merger_list"),
)
