"""A plain model from one checkpoint (LoRA merged), strictly checked against its base model."""

from __future__ import annotations

from typing import Any

import torch

from vlm_ocr.errors import UsageError
from vlm_ocr.export.checkpoints import Checkpoint, CheckpointError
from vlm_ocr.model.loading import AttnImplementation, DTypeName, load_model
from vlm_ocr.model.location import resolve_pretrained
from vlm_ocr.model.peft import has_lora, is_lora_parameter, merge_lora, peft_config


def resolve_base(checkpoint: Checkpoint, base: str | None) -> str:
    """What the weights load over: `base` when given, else the recorded base (an HF folder is its own)."""
    if checkpoint.kind == "hf":
        return str(checkpoint.path)
    if base is not None:
        return resolve_pretrained(base, "--base")
    if checkpoint.base is None:
        raise CheckpointError(f"{checkpoint.path}: the checkpoint records no base model; pass --base")
    try:
        return resolve_pretrained(checkpoint.base, "base")
    except UsageError:
        raise CheckpointError(
            f"{checkpoint.path}: records the base model {checkpoint.base}, which is not a folder here; "
            "pass --base with the model folder it was trained from"
        ) from None


def build_model(
    checkpoint: Checkpoint, base: str | None, dtype: DTypeName, attn_implementation: AttnImplementation = "sdpa"
) -> Any:
    """Load the base, inject the adapter if any, load the checkpoint's weights over it, merge: a plain model."""
    base_path = resolve_base(checkpoint, base)
    model = load_model(base_path, dtype, attn_implementation)
    if checkpoint.lora is not None:
        from peft import inject_adapter_in_model

        model = inject_adapter_in_model(peft_config(checkpoint.lora, model), model)
    if checkpoint.kind == "peft":
        _load_peft_state(model, checkpoint)
    elif checkpoint.state is not None:
        load_strict(
            model,
            checkpoint.state,
            f"{checkpoint.path}: does not match the base model {base_path}",
            partial=checkpoint.lora is not None,
        )
    if has_lora(model):
        model = merge_lora(model)
    return model.eval()


def mismatches(model: Any, state: dict[str, torch.Tensor], partial: bool) -> list[str]:
    """Why `state` does not fit `model`: missing, unexpected and wrongly shaped weights (empty when it fits).

    With `partial` (an adapter checkpoint) only the adapter's weights are required; others may be absent.
    """
    own = model.state_dict()
    required = {k for k in own if is_lora_parameter(k)} if partial else set(own)
    problems = [f"missing {k}" for k in sorted(required - state.keys())]
    problems += [f"unexpected {k}" for k in sorted(state.keys() - own.keys())]
    problems += [
        f"shape of {k}: checkpoint {tuple(v.shape)}, model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    return problems


def load_strict(model: Any, state: dict[str, torch.Tensor], context: str, partial: bool = False) -> None:
    """Copy `state` into `model` after checking it fits (see `mismatches`); else CheckpointError(context: why)."""
    problems = mismatches(model, state, partial)
    if problems:
        shown = "; ".join(problems[:6]) + (f"; ... ({len(problems)} in all)" if len(problems) > 6 else "")
        raise CheckpointError(f"{context}: {shown}")
    with torch.no_grad():
        own = model.state_dict()
        for key, value in state.items():
            own[key].copy_(value)


def _load_peft_state(model: Any, checkpoint: Checkpoint) -> None:
    from peft import set_peft_model_state_dict

    try:
        result = set_peft_model_state_dict(model, checkpoint.state)
    except RuntimeError as err:  # shape mismatches
        raise CheckpointError(f"{checkpoint.path}: adapter does not match the base model: {err}") from None
    missing = [k for k in result.missing_keys if is_lora_parameter(k)]
    if missing or result.unexpected_keys:
        problems = [f"missing {k}" for k in missing[:3]] + [f"unexpected {k}" for k in result.unexpected_keys[:3]]
        raise CheckpointError(f"{checkpoint.path}: adapter does not match the base model: {'; '.join(problems)}")
