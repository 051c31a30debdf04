"""Which parameters train (vision tower, merger, decoder) and which get weight decay."""

from __future__ import annotations

from typing import Any

from torch import nn

from vlm_ocr.errors import UsageError
from vlm_ocr.model.families import family_of_model


def set_trainable(model: nn.Module, vision_tower: bool = False, merger: bool = True, decoder: bool = True) -> None:
    """Freeze or unfreeze the three parts of the model's family (`ModelFamily.parts`): the vision tower (ViT
    blocks, patch and position embeddings), every merger (DeepStack's too), and the decoder
    (language model and lm_head)."""
    parts = family_of_model(model).parts(model)
    trains = {"vision": vision_tower, "merger": merger, "decoder": decoder}
    named = dict(model.named_parameters())
    for part, names in parts.items():
        for name in names:
            named[name].requires_grad_(trains[part])


def is_no_decay(name: str, param: nn.Parameter, norm_param_ids: set[int]) -> bool:
    return name.endswith(".bias") or param.ndim < 2 or id(param) in norm_param_ids


def norm_parameter_ids(model: nn.Module) -> set[int]:
    """Parameters of every normalisation layer (LayerNorm, RMSNorm and Qwen's own *RMSNorm classes)."""
    ids = set()
    for module in model.modules():
        name = type(module).__name__.lower()
        if isinstance(module, nn.LayerNorm | nn.RMSNorm | nn.GroupNorm) or "norm" in name:
            ids.update(id(p) for p in module.parameters(recurse=False))
    return ids


def decay_parameter_groups(model: nn.Module) -> list[dict[str, Any]]:
    """Trainable parameters split into [decay, no decay]; biases and all norm weights get no decay.

    The decay group leaves weight_decay to the optimizer's own setting; the other sets it to 0.
    """
    norms = norm_parameter_ids(model)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if is_no_decay(name, param, norms) else decay).append(param)
    groups = [{"params": decay, "name": "decay"}, {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"}]
    return [g for g in groups if g["params"]]


def check_same_shapes(saved: dict[str, Any], current: dict[str, Any], model_name: str) -> None:
    """UsageError naming the first weight whose shape differs: a checkpoint of another model (size) than this one."""
    for name, tensor in saved.items():
        own = current.get(name)
        if own is not None and hasattr(tensor, "shape") and tuple(tensor.shape) != tuple(own.shape):
            raise UsageError(
                f"--ckpt_path: a checkpoint of another model than {model_name} ({name}: {tuple(tensor.shape)} in "
                f"the checkpoint, {tuple(own.shape)} in the model); give a checkpoint of this model, or the model "
                "folder it was trained from as --model.pretrained"
            )
