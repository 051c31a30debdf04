"""Qwen3.5 (dense, hybrid attention): presets (tiny, and the released 4B / 9B / 27B shapes), tokens and parts.

Three of every four decoder layers are linear attention (a gated delta rule after a short causal convolution),
the fourth gated softmax attention with partial interleaved mRoPE; the vision tower is Qwen3-VL's without
DeepStack; its own vocabulary (248,320 embedding rows).
"""

from __future__ import annotations

from typing import Any

from vlm_ocr.model.families.base import ModelFamily, Shape
from vlm_ocr.model.families.chat_templates import QWEN3_5_TEMPLATE
from vlm_ocr.model.families.qwen3_vl import IMAGE_PROCESSOR_SETTINGS
from vlm_ocr.model.families.tokenizer_files import qwen3_5_tokenizer

SPECIAL_TOKEN_IDS = {
    "vision_start_token_id": 248053,
    "vision_end_token_id": 248054,
    "image_token_id": 248056,
    "video_token_id": 248057,
}
TEXT_TOKEN_IDS = {"bos_token_id": 248044, "eos_token_id": 248044, "pad_token_id": 248044}  # as released
VOCAB_SIZE = 248320
FULL_ATTENTION_INTERVAL = 4  # every fourth decoder layer is softmax attention

_LINEAR = dict(linear_num_key_heads=16, linear_key_head_dim=128, linear_value_head_dim=128, linear_conv_kernel_dim=4)
_VISION_SMALL = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16)
_VISION_LARGE = dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16)
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "qwen3.5-tiny": {
        "text": dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,  # one linear-attention layer, one softmax-attention layer
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=32,
            mrope_section=[2, 1, 1],
            linear_num_key_heads=2,
            linear_num_value_heads=4,
            linear_key_head_dim=8,
            linear_value_head_dim=8,
            linear_conv_kernel_dim=4,
            max_position_embeddings=32768,
            tie_word_embeddings=False,
        ),
        "vision": dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4),
    },
    "qwen3.5-4b": {
        "text": dict(
            hidden_size=2560,
            intermediate_size=9216,
            num_hidden_layers=32,
            num_attention_heads=16,
            num_key_value_heads=4,
            head_dim=256,
            mrope_section=[11, 11, 10],
            linear_num_value_heads=32,
            **_LINEAR,
            max_position_embeddings=262144,
            tie_word_embeddings=True,
        ),
        "vision": _VISION_SMALL,
    },
    "qwen3.5-9b": {
        "text": dict(
            hidden_size=4096,
            intermediate_size=12288,
            num_hidden_layers=32,
            num_attention_heads=16,
            num_key_value_heads=4,
            head_dim=256,
            mrope_section=[11, 11, 10],
            linear_num_value_heads=32,
            **_LINEAR,
            max_position_embeddings=262144,
            tie_word_embeddings=False,
        ),
        "vision": _VISION_LARGE,
    },
    "qwen3.5-27b": {
        "text": dict(
            hidden_size=5120,
            intermediate_size=17408,
            num_hidden_layers=64,
            num_attention_heads=24,
            num_key_value_heads=4,
            head_dim=256,
            mrope_section=[11, 11, 10],
            linear_num_value_heads=48,
            **_LINEAR,
            max_position_embeddings=262144,
            tie_word_embeddings=False,
        ),
        "vision": _VISION_LARGE,
    },
}


def layer_types(layers: int) -> list[str]:
    """The released pattern (softmax attention every FULL_ATTENTION_INTERVAL layers), with the last layer softmax
    attention, so that a shallow model (tiny, benchmark probes) keeps both kinds."""
    kinds = ["full_attention" if (i + 1) % FULL_ATTENTION_INTERVAL == 0 else "linear_attention" for i in range(layers)]
    kinds[-1] = "full_attention"
    return kinds


def build_config(shape: Shape, decoder_layers: int | None = None, vision_depth: int | None = None) -> Any:
    """A Qwen3_5Config of the preset's shape with the released checkpoints' token ids and rope."""
    from transformers import Qwen3_5Config

    text = dict(shape["text"])
    mrope_section = text.pop("mrope_section")
    tie = text.pop("tie_word_embeddings")
    vision = dict(shape["vision"])
    if decoder_layers:
        text["num_hidden_layers"] = decoder_layers
    if vision_depth:
        vision["depth"] = vision_depth
    rope = {
        "rope_type": "default",
        "rope_theta": 10_000_000.0,
        "mrope_section": mrope_section,
        "mrope_interleaved": True,
        "partial_rotary_factor": 0.25,
    }
    return Qwen3_5Config(
        text_config=dict(
            **text,
            layer_types=layer_types(text["num_hidden_layers"]),
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


QWEN3_5 = ModelFamily(
    name="Qwen3.5",
    model_type="qwen3_5",
    model_class="Qwen3_5ForConditionalGeneration",
    config_class="Qwen3_5Config",
    processor_class="Qwen3VLProcessor",
    video_processor_class="Qwen3VLVideoProcessor",
    chat_template=QWEN3_5_TEMPLATE,
    # the released template opens a reasoning block (`<think>\n`) unless told otherwise: OCR answers come without
    chat_template_kwargs={"enable_thinking": False},
    presets=PRESETS,
    build_config=build_config,
    build_tokenizer=qwen3_5_tokenizer,
    image_processor_settings=IMAGE_PROCESSOR_SETTINGS,
    # softmax attention, linear attention (its gate projections in_proj_a/b are tiny) and the MLP
    lora_targets=(
        r"model\.language_model\.layers\.\d+\."
        r"(self_attn\.(q|k|v|o)_proj|linear_attn\.(in_proj_qkv|in_proj_z|out_proj)|mlp\.(gate|up|down)_proj)"
    ),
    # the delta rule's decay and step-size gates (in_proj_a/b) are exponentiated: kept in bf16 too
    fp8_ignore=("lm_head", "re:visual.*", r"re:model\.visual\..*", r"re:.*linear_attn\.in_proj_(a|b)$"),
    liger=("apply_liger_kernel_to_qwen3_5", {"rope": False, "rms_norm": True, "swiglu": True}),
    packing_refusal=(
        "packing is not exact for Qwen3.5: its linear-attention layers (causal convolution and gated delta rule) "
        "carry their state from one page into the next, and the installed kernels take no page boundaries; "
        "set data.pack_max_tokens: null (one page per row)"
    ),
)
