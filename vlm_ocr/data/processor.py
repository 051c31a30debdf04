"""The model transform: chat template + image processor + label masking, shared by training and predict."""

from __future__ import annotations

from typing import Any, Literal

import torch

from vlm_ocr.data.sample import DropSample, Sample
from vlm_ocr.model.families import ModelFamily, family_of

IGNORE_INDEX = -100


def answer_ids(tokenizer: Any, target: str, end_of_turn: str) -> list[int]:
    """Token ids of an answer as training sees them: the target without special tokens, then the family's end of
    turn."""
    return tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.convert_tokens_to_ids(end_of_turn)]


class QwenInputs:
    """Turn `messages` + `image` (+ `target` when training) into model tensors.

    The prompt is the chat template with the generation prompt, run through the processor with the
    image (which expands the image placeholder to grid_h*grid_w/merge^2 tokens). The target is tokenized
    without special tokens and the family's end-of-turn token is appended; labels are IGNORE_INDEX over the prompt.

    Args:
        processor: the model's processor (from `load_processor`).
        max_length: most tokens per sample (prompt, image and answer).
        overlong: `drop` skips samples longer than max_length; `truncate` keeps them cut at
            max_length (the answer then lacks its end, which is counted). Samples whose prompt alone
            is too long are always dropped.
        family: the model's family; default: the one of the folder or hub id the processor was loaded from.
    """

    def __init__(
        self,
        processor: Any,
        max_length: int = 8192,
        overlong: Literal["drop", "truncate"] = "drop",
        family: ModelFamily | None = None,
    ):
        self.processor = processor
        self.max_length = max_length
        self.overlong = overlong
        self.family = family or family_of(processor.tokenizer.name_or_path)
        tokenizer = processor.tokenizer
        self.end_id = tokenizer.convert_tokens_to_ids(self.family.end_of_turn)
        self.pad_id = (
            tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.convert_tokens_to_ids(self.family.end_of_text)
        )

    def prompt(self, messages: list[dict], image: Any) -> dict[str, torch.Tensor]:
        """Prompt tensors: input_ids (L,), attention_mask (L,), pixel_values (patches, 3 x 2 x patch^2),
        image_grid_thw (1, 3), and mm_token_type_ids (L,: 1 on image tokens) when the processor gives it
        (transformers 5 needs it for the multimodal rope positions; without it the model silently uses 1D
        positions)."""
        text = self.render_prompt(messages)
        encoded = self.processor(text=[text], images=[image], return_tensors="pt")
        prompt = {
            "input_ids": encoded["input_ids"][0],
            "attention_mask": encoded["attention_mask"][0],
            "pixel_values": encoded["pixel_values"],
            "image_grid_thw": encoded["image_grid_thw"],
        }
        if "mm_token_type_ids" in encoded:
            prompt["mm_token_type_ids"] = encoded["mm_token_type_ids"][0]
        return prompt

    def render_prompt(self, messages: list[dict]) -> str:
        """The chat template's prompt, with the generation prompt and the family's template options."""
        options = self.family.chat_template_kwargs
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **options)

    def prompt_text_tokens(self, messages: list[dict]) -> int:
        """Prompt tokens besides the image's: a sample's length is this + its image tokens + its answer's."""
        text = self.render_prompt(messages)
        ids = self.processor.tokenizer(text)["input_ids"]
        return len(ids) - ids.count(self.processor.tokenizer.convert_tokens_to_ids(self.processor.image_token))

    def target_ids(self, target: str) -> list[int]:
        return answer_ids(self.processor.tokenizer, target, self.family.end_of_turn)

    def __call__(self, sample: Sample) -> Sample:
        prompt = self.prompt(sample["messages"], sample["image"])
        target = torch.tensor(self.target_ids(sample["target"]), dtype=torch.long)
        prompt_len, total = len(prompt["input_ids"]), len(prompt["input_ids"]) + len(target)
        truncated = False
        if total > self.max_length:
            if self.overlong == "drop" or prompt_len >= self.max_length:
                raise DropSample(f"too long: {total} tokens (prompt {prompt_len}) > max_length {self.max_length}")
            target, truncated = target[: self.max_length - prompt_len], True
        input_ids = torch.cat([prompt["input_ids"], target])
        labels = torch.cat([torch.full((prompt_len,), IGNORE_INDEX, dtype=torch.long), target])
        extra = {}
        if "mm_token_type_ids" in prompt:
            extra["mm_token_type_ids"] = torch.cat([prompt["mm_token_type_ids"], torch.zeros_like(target)])
        return {
            **sample,
            **extra,
            "input_ids": input_ids,
            "labels": labels,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": prompt["pixel_values"],
            "image_grid_thw": prompt["image_grid_thw"],
            "truncated": truncated,
        }


def load_processor(pretrained: str) -> Any:
    """AutoProcessor from a hub id or a local folder (tokenizer, image processor, chat template); a model of no
    supported family fails first, with one line naming the supported ones."""
    from transformers import AutoProcessor

    family_of(pretrained)
    return AutoProcessor.from_pretrained(pretrained)
