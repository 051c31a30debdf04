"""ModelFamily: everything vlm_ocr needs to know about one family of vision-language checkpoints.

A family is a frozen dataclass of facts (class names, attribute paths, tokens, templates, presets) plus the few
functions that read a model through those facts. Callers never name a family's classes, attribute paths or
special tokens themselves: they ask the family of the checkpoint (`vlm_ocr.model.families.family_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

Shape = Mapping[str, Mapping[str, Any]]
"""A preset: {"text": text config values, "vision": vision config values} of a randomly initialised model."""


@dataclass(frozen=True)
class ModelFamily:
    """One family of checkpoints, chosen by the `model_type` of their config.json."""

    name: str  # as users write it, e.g. "Qwen2.5-VL"
    model_type: str  # config.json's model_type
    model_class: str  # transformers' ...ForConditionalGeneration
    config_class: str
    processor_class: str
    video_processor_class: str
    chat_template: str
    chat_template_kwargs: Mapping[str, Any]  # passed to every apply_chat_template (training, predict, serving)
    presets: Mapping[str, Shape]  # make-tiny-model's presets of this family, by name
    build_config: Callable[[Shape, int | None, int | None], Any]  # (shape, decoder_layers, vision_depth) -> config
    build_tokenizer: Callable[[], Any]  # the real tokenizer files with the family's chat template
    image_processor_settings: Mapping[str, Any]  # the released checkpoint's preprocessor_config values
    lora_targets: str  # regex (full match) of the decoder projections that get adapters by default
    fp8_ignore: tuple[str, ...]  # modules FP8 export leaves in bf16 (transformers' and vLLM's names)
    liger: tuple[str, Mapping[str, bool]]  # liger_kernel.transformers function and its flags
    end_of_turn: str = "<|im_end|>"  # closes the assistant's answer: appended to targets, stops generation
    end_of_text: str = "<|endoftext|>"  # also stops generation; the pad token when the tokenizer has none
    mergers: tuple[str, ...] = ("merger",)  # vision tower children that map vision features into the decoder
    vision_tower: str = "model.visual"  # attribute path of the vision tower (mergers included)
    packing_refusal: str | None = None  # why packed rows cannot be exact for this family (None: they are)
    notes: tuple[str, ...] = field(default_factory=tuple)  # what README's family table says is verified

    def load_class(self) -> Any:
        """The transformers model class (imported on first use: the family facts import no transformers)."""
        import transformers

        return getattr(transformers, self.model_class)

    def config(self, preset: str, decoder_layers: int | None = None, vision_depth: int | None = None) -> Any:
        """The transformers config of a preset; `decoder_layers`/`vision_depth` make a shallower model of the same
        width (benchmark dry runs and per-layer measurements)."""
        return self.build_config(self.presets[preset], decoder_layers, vision_depth)

    def build_processor(self) -> Any:
        """The processor of a released checkpoint, offline: the real tokenizer files, the family's chat template and
        the checkpoint's image-processor settings."""
        import transformers

        tokenizer = self.build_tokenizer()
        tokenizer.chat_template = self.chat_template
        return getattr(transformers, self.processor_class)(
            image_processor=transformers.Qwen2VLImageProcessor(**self.image_processor_settings),
            tokenizer=tokenizer,
            video_processor=getattr(transformers, self.video_processor_class)(),
            chat_template=self.chat_template,
        )

    # -- the parts of a model (a peft wrapper is looked through) --

    def vision(self, model: nn.Module) -> nn.Module:
        """The vision tower, mergers included."""
        return _base(model).get_submodule(self.vision_tower)

    def merger_modules(self, model: nn.Module) -> list[nn.Module]:
        """The modules that map vision features into the decoder, each one called on its own (Qwen3-VL: the merger
        and every DeepStack merger of its list)."""
        vision = self.vision(model)
        found = [getattr(vision, name) for name in self.mergers]
        return [m for module in found for m in (module if isinstance(module, nn.ModuleList) else [module])]

    def vision_blocks(self, model: nn.Module) -> nn.ModuleList:
        """The ViT blocks."""
        return self.vision(model).blocks

    def decoder_layers(self, model: nn.Module) -> nn.ModuleList:
        """The language model's decoder layers."""
        return _base(model).get_decoder().layers

    def parts(self, model: nn.Module) -> dict[str, list[str]]:
        """Parameter names by part: `vision` (ViT blocks, patch and position embeddings), `merger` (every merger),
        `decoder` (language model and lm_head). What freezing, sharding and the tests use."""
        names = {id(p): n for n, p in model.named_parameters()}
        merger = {id(p) for m in self.merger_modules(model) for p in m.parameters()}
        vision = {id(p) for p in self.vision(model).parameters()} - merger
        parts: dict[str, list[str]] = {"vision": [], "merger": [], "decoder": []}
        for key, name in names.items():
            parts["merger" if key in merger else "vision" if key in vision else "decoder"].append(name)
        return parts

    def quadratic_attention_layers(self, text_config: Any) -> int:
        """Decoder layers with softmax attention over the page (the others, if any, are linear-time)."""
        kinds = getattr(text_config, "layer_types", None) or ["full_attention"] * text_config.num_hidden_layers
        return sum(kind == "full_attention" for kind in kinds)


def _base(model: nn.Module) -> nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model
