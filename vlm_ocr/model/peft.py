"""LoRA (peft): the spec, injecting and merging adapters, adapter-only state dicts."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vlm_ocr.model.families import family_of_model


@dataclass
class LoraSpec:
    """Low-rank adapters trained instead of the full weights; everything else stays frozen."""

    rank: int = 16
    """Rank r of each adapter (A is r x in, B is out x r)."""
    alpha: float = 32.0
    """Scaling numerator: the adapter's update is multiplied by alpha / rank."""
    dropout: float = 0.05
    """Dropout on the adapter's input during training."""
    target_modules: str | list[str] | None = None
    """Modules that get adapters: a regex matched against the full module name, or a list of name suffixes; None:
    the decoder projections of the model's family (attention, linear attention and MLP; not the vision tower's)."""
    extra_trainable: list[str] = field(default_factory=list)
    """Regexes (full match) of base parameter names that train in full too (e.g. the merger's)."""


def as_lora_spec(spec: LoraSpec | dict[str, Any]) -> LoraSpec:
    """A LoraSpec from itself or from its fields (LightningCLI keeps dataclass init args as dicts in hparams)."""
    return spec if isinstance(spec, LoraSpec) else LoraSpec(**spec)


def lora_config(spec: LoraSpec | dict[str, Any], model: nn.Module) -> Any:
    """peft's LoraConfig of a spec for `model` (whose family gives the default targets)."""
    from peft import LoraConfig

    spec = as_lora_spec(spec)
    return LoraConfig(
        r=spec.rank,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules or family_of_model(model).lora_targets,
        bias="none",
    )


def peft_config(lora: Any, model: nn.Module) -> Any:
    """A peft LoraConfig as it is, or the one of a LoraSpec (or its fields) for `model`."""
    return lora_config(lora, model) if isinstance(lora, LoraSpec | dict) else lora


def apply_lora(model: nn.Module, spec: LoraSpec | dict[str, Any]) -> nn.Module:
    """Inject adapters in place (the model keeps its class and attributes) and freeze all but them and extras.

    peft raises ValueError when `target_modules` matches no module.
    """
    from peft import inject_adapter_in_model

    spec = as_lora_spec(spec)
    model = inject_adapter_in_model(lora_config(spec, model), model)
    patterns = [re.compile(p) for p in spec.extra_trainable]
    for name, param in model.named_parameters():
        param.requires_grad_(is_lora_parameter(name) or any(p.fullmatch(name) for p in patterns))
    return model


def is_lora_parameter(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name


def has_lora(model: nn.Module) -> bool:
    if "peft" not in sys.modules:  # no adapter can exist without it; spares callers the slow import
        return False
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(isinstance(module, BaseTunerLayer) for module in model.modules())


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its base weight (W += B A * alpha/r) and put the plain layers back, in place.

    A `peft.PeftModel` is merged with its own `merge_and_unload` and the base model is returned.
    """
    from peft import PeftModel
    from peft.tuners.tuners_utils import BaseTunerLayer

    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    layers = [(name, module) for name, module in model.named_modules() if isinstance(module, BaseTunerLayer)]
    for name, layer in layers:
        layer.merge()
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, layer.get_base_layer())
    if hasattr(model, "peft_config"):
        del model.peft_config
    return model


@torch.no_grad()
def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The plain model's state dict with every active adapter folded in, on the CPU; `model` is left as it is."""
    from peft.tuners.lora import LoraLayer

    deltas = {}
    for name, layer in model.named_modules():
        if isinstance(layer, LoraLayer):
            deltas[f"{name}.weight"] = sum(
                layer.get_delta_weight(a) for a in layer.active_adapters if a in layer.lora_A
            )
    state = {}
    for key, value in model.state_dict().items():
        if is_lora_parameter(key):
            continue
        key = key.replace(".base_layer.", ".")
        value = value.detach()
        if key in deltas:
            value = (value.float() + deltas[key].float()).to(value.dtype)
        state[key] = value.cpu()
    return state


def trainable_state_dict(state: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """The entries of `state` (named as `module.state_dict()`) whose parameters train: the adapter and extras."""
    keep = {name for name, param in module.named_parameters() if param.requires_grad}
    return {key: value for key, value in state.items() if key in keep}


def complete_state_dict(state: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """A saved trainable-only state filled up with `module`'s own frozen weights, for a strict load.

    The state must hold exactly the trainable parameters; a full state dict is returned unchanged.
    """
    own = module.state_dict()
    if state.keys() == own.keys():
        return state
    trainable = {name for name, param in module.named_parameters() if param.requires_grad}
    missing = sorted(trainable - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    if missing or unexpected:
        raise ValueError(
            "checkpoint does not match this LoRA setup: "
            f"missing trainable weights {missing[:5]}{' ...' if len(missing) > 5 else ''} "
            f"unexpected weights {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
        )
    return {**own, **state}
