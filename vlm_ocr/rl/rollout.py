"""Rollouts: G completions per page from the current policy, behind an interface a faster engine can implement.

`RolloutEngine.sample(prompts, seed)` takes pages prompted exactly as the SFT pipeline prompts them
(`RolloutPrompt.from_page`: vlm_ocr.data's RenderPage image, BuildMessages and QwenInputs) and returns every page's
G completions in one `Rollout`: ids right-padded, a mask over each completion up to and including its end
token, truncation flags, decoded texts. `HFRollout` samples them with Hugging Face `generate` in one batched call
per `sample` (num_return_sequences, KV cache). An engine on vLLM (colocated, sharing the GPU with the trainer, or a
server) implements the same method: it reads `RolloutPrompt.inputs["input_ids"]` and `.image` (vLLM runs its own
image processor), samples with `RolloutSpec`'s settings, and must load the policy's current weights before each
call; its per-token sampling log-probabilities, if returned, feed TRL's importance-sampling correction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from vlm_ocr.data.collate import Collator
from vlm_ocr.data.processor import QwenInputs
from vlm_ocr.data.transforms import BuildMessages
from vlm_ocr.model.generate import GenerationSpec, end_token_ids, generate_new_tokens
from vlm_ocr.rl.rewards import Completion


@dataclass(frozen=True)
class RolloutSpec:
    """How completions are sampled (defaults: olmOCR 2's GRPO launch)."""

    num_generations: int = 28
    """Completions per page (the group size G)."""
    max_new_tokens: int = 3000
    """Most tokens per completion; one that reaches it is truncated."""
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    """0: no top-k cut. Given explicitly, as every setting here, so the model folder's generation_config
    (Qwen2.5-VL-Instruct ships top_k 1, top_p 0.001, repetition_penalty 1.05) does not turn sampling near-greedy."""
    repetition_penalty: float = 1.0


@dataclass(frozen=True)
class RolloutPrompt:
    """One page as the policy sees it."""

    inputs: dict[str, torch.Tensor]
    """Prompt tensors from QwenInputs.prompt (input_ids, attention_mask, pixel_values, image_grid_thw, and
    mm_token_type_ids when the processor makes it)."""
    image: Any
    """The rendered page (PIL), for engines with their own image processor."""

    @classmethod
    def from_page(cls, image: Any, inputs: QwenInputs, messages: BuildMessages) -> RolloutPrompt:
        """The SFT pipeline's prompt of a rendered page: the same messages, chat template and image processor."""
        return cls(inputs.prompt(messages({"image": image})["messages"], image), image)


@dataclass
class Rollout:
    """The completions of a batch of pages; page i's G completions are rows i*G .. i*G + G - 1."""

    prompts: dict[str, Any]
    """The pages' left-padded prompt batch, one row per page (vlm_ocr.rl.logprobs.repeat_prompts: one per row)."""
    completion_ids: torch.Tensor
    """(P*G, T) token ids, padded with the pad id after the end token."""
    completion_mask: torch.Tensor
    """(P*G, T) 1 on each completion's tokens, its end token included."""
    truncated: torch.Tensor
    """(P*G,) True where the completion hit max_new_tokens without an end token."""
    texts: list[str]
    """Each completion decoded without special tokens."""
    group_size: int
    seconds: float
    """Wall time of the sampling call."""

    @property
    def tokens(self) -> int:
        return int(self.completion_mask.sum())

    def completions(self) -> list[Completion]:
        """What the rewards see of each row."""
        lengths = self.completion_mask.sum(-1).tolist()
        last = [int(self.completion_ids[i, n - 1]) if n else None for i, n in enumerate(lengths)]
        return [Completion(text, token) for text, token in zip(self.texts, last, strict=True)]


class RolloutEngine(Protocol):
    """Samples G completions of every page given, from the policy's current weights, reproducibly from `seed`."""

    spec: RolloutSpec

    def sample(self, prompts: Sequence[RolloutPrompt], seed: int) -> Rollout: ...


def completion_mask(new_tokens: torch.Tensor, end_ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The mask up to and including each row's first end token, and whether the row has none (truncated)."""
    is_end = torch.isin(new_tokens, torch.tensor(list(end_ids), device=new_tokens.device))
    truncated = ~is_end.any(-1)
    first_end = torch.where(truncated, new_tokens.shape[1], is_end.int().argmax(-1))
    positions = torch.arange(new_tokens.shape[1], device=new_tokens.device)
    return (positions.unsqueeze(0) <= first_end.unsqueeze(1)).long(), truncated


class HFRollout:
    """Rollouts with Hugging Face `generate`: all pages x G completions in one batched call with the KV cache.

    Args:
        model: the policy (switched to eval mode while it samples: no gradient checkpointing in generate).
        tokenizer: its tokenizer (pad id, end tokens, decoding).
        spec: the sampling settings.
    """

    def __init__(self, model: Any, tokenizer: Any, spec: RolloutSpec):
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.collate = Collator(tokenizer.pad_token_id, "left")

    def sample(self, prompts: Sequence[RolloutPrompt], seed: int) -> Rollout:
        spec = self.spec
        batch = self.collate([{**prompt.inputs} for prompt in prompts])
        device = next(self.model.parameters()).device
        on_device = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        generation = GenerationSpec(spec.max_new_tokens, True, spec.temperature, spec.top_p)
        was_training = self.model.training
        self.model.eval()
        start = time.perf_counter()
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(seed)
                new_tokens = generate_new_tokens(
                    self.model,
                    self.tokenizer,
                    on_device,
                    generation,
                    num_return_sequences=spec.num_generations,
                    top_k=spec.top_k,
                    repetition_penalty=spec.repetition_penalty,
                )
        finally:
            self.model.train(was_training)
        seconds = time.perf_counter() - start
        mask, truncated = completion_mask(new_tokens, end_token_ids(self.model, self.tokenizer))
        ids = new_tokens.masked_fill(mask == 0, self.tokenizer.pad_token_id)
        answers = [row[: int(n) - (not cut)] for row, n, cut in zip(ids.tolist(), mask.sum(-1), truncated, strict=True)]
        texts = self.tokenizer.batch_decode(answers, skip_special_tokens=True)
        return Rollout(batch, ids, mask, truncated, texts, spec.num_generations, seconds)
