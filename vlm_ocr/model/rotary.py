"""Rotary frequencies stay float32 whatever casts the model (bf16-true, FSDP2, DeepSpeed, `.to(dtype)`).

`from_pretrained` computes the rotary `inv_freq` buffers of the text and vision towers in float32 (they are
non-persistent: never saved, recomputed on every load), but anything that casts the whole module afterwards
(Lightning's `bf16-true` precision plugin, DeepSpeed's bf16 engine, a `.to(torch.bfloat16)`) rounds them to
bf16: up to 3.7e-3 relative error at the 7B shape, position angles far off at long range, and a model that
trains with other angles than it was pretrained and is served with. Every cast goes through `nn.Module._apply`,
so each rotary module gets an `_apply` that lets device moves through and keeps the float32 values (the same
per-instance method override accelerate uses for its hooks; torch has no hook for casts).
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn

FREQUENCY_BUFFERS = ("inv_freq", "original_inv_freq")


def rotary_modules(model: nn.Module) -> list[nn.Module]:
    """The modules that hold rotary frequencies (the decoder's and the vision tower's)."""
    return [m for m in model.modules() if isinstance(m._buffers.get("inv_freq"), torch.Tensor)]


def fresh_frequencies(module: nn.Module) -> torch.Tensor:
    """The module's float32 inverse frequencies computed from its config, as transformers initialises them."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    compute: dict[str, Any] = {
        "axial": getattr(module, "compute_axial_rope_parameters", None),
        "default": getattr(module, "compute_default_rope_parameters", None),
        **ROPE_INIT_FUNCTIONS,
    }
    return compute[module.rope_type](module.config)[0].float()


def _apply_keeping_float32(self: nn.Module, fn: Any, recurse: bool = True) -> nn.Module:
    kept = {name: self._buffers[name] for name in FREQUENCY_BUFFERS if self._buffers.get(name) is not None}
    type(self)._apply(self, fn, recurse)
    for name, before in kept.items():
        after = self._buffers[name]
        if after.dtype != torch.float32:  # a cast: keep the values, follow the device
            self._buffers[name] = before.to(after.device)
    return self


def keep_rotary_float32(model: nn.Module) -> int:
    """Make every rotary module of `model` keep float32 frequencies through later casts; frequencies already
    cast are recomputed. Returns the number of rotary modules."""
    modules = rotary_modules(model)
    for module in modules:
        for name in FREQUENCY_BUFFERS:
            buffer = module._buffers.get(name)
            if buffer is not None and buffer.dtype != torch.float32:
                module._buffers[name] = fresh_frequencies(module).to(buffer.device)
        module._apply = types.MethodType(_apply_keeping_float32, module)
    return len(modules)
