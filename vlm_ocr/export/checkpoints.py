"""Read what training wrote (Lightning .ckpt, sharded checkpoint folder, peft adapter, HF folder) as weights."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from vlm_ocr.errors import UsageError

CheckpointKind = Literal["lightning", "sharded", "peft", "hf"]

# Wrappers that training adds to parameter names: torch.compile, FSDP1 and activation checkpointing.
_WRAPPER_SEGMENTS = re.compile(r"(^|\.)(_orig_mod|_fsdp_wrapped_module|_checkpoint_wrapped_module)(?=\.)")


class CheckpointError(UsageError, ValueError):
    """A checkpoint that cannot be exported; the message names the path and the reason."""


@dataclass
class Checkpoint:
    """Weights of one training result, named as the Hugging Face model's (peft-injected, when LoRA) parameters."""

    path: Path
    kind: CheckpointKind
    base: str | None
    """The model it was trained from (the run's `model.pretrained`, the adapter's base), when recorded."""
    state: dict[str, torch.Tensor] | None
    """Weights to load over the base; None when the base itself is the result (an HF folder)."""
    lora: Any = None
    """The adapter's peft LoraConfig, or the run's LoraSpec (`vlm_ocr.model.peft.peft_config` makes the config for
    the base model), or None for full weights."""
    inference: dict[str, Any] | None = None
    """Prompt, render and generation settings of the training run (`vlm_ocr.export.serving`), when recorded."""


def detect_kind(path: Path) -> CheckpointKind:
    """What `path` holds, judged from its files; raises CheckpointError for anything else."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file or folder")
    if path.is_file():
        if path.suffix not in (".ckpt", ".pt", ".pth"):
            raise CheckpointError(f"{path}: not a Lightning checkpoint (expected a .ckpt file)")
        return "lightning"
    if (path / ".metadata").is_file():
        return "sharded"
    if (path / "adapter_config.json").is_file():
        return "peft"
    if (path / "config.json").is_file():
        return "hf"
    if (path / "checkpoint").is_dir() or any(path.glob("*/mp_rank_*_model_states.pt")):
        raise CheckpointError(
            f"{path}: a DeepSpeed checkpoint; convert it first with "
            "lightning.pytorch.utilities.deepspeed.convert_zero_checkpoint_to_fp32_state_dict"
        )
    raise CheckpointError(
        f"{path}: not a checkpoint (no .metadata, adapter_config.json or config.json; a Lightning checkpoint is a file)"
    )


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Load one checkpoint on the CPU. Lightning checkpoints are pickles: only export ones you trust."""
    path = Path(path)
    kind = detect_kind(path)
    if kind == "hf":
        from vlm_ocr.export.serving import read_settings

        return Checkpoint(path, kind, str(path), None, inference=read_settings(path))
    if kind == "peft":
        return _read_peft(path)
    if kind == "lightning":
        try:
            raw = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except Exception as err:
            raise CheckpointError(f"{path}: cannot read the checkpoint ({type(err).__name__}: {err})") from None
        if not isinstance(raw, dict) or "state_dict" not in raw:
            raise CheckpointError(f"{path}: no state_dict in it; is it a Lightning checkpoint?")
        state = raw["state_dict"]
    else:
        from lightning.fabric.utilities.load import _load_distributed_checkpoint

        raw = _load_distributed_checkpoint(path)
        if "model" not in raw:
            raise CheckpointError(f"{path}: the sharded checkpoint holds no `model` state")
        state = raw["model"]
    hparams = raw.get("hyper_parameters") or {}
    lora = _lora_spec(hparams.get("lora"))
    return Checkpoint(path, kind, hparams.get("pretrained"), model_state(state), lora, raw.get("vlm_ocr_inference"))


def model_state(module_state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The VlmOcrModule's state (`model.` + HF names, maybe with wrapper segments) as HF parameter names."""
    state = {}
    for key, value in module_state.items():
        if not key.startswith("model."):
            continue  # module-level extras (metrics) are not model weights
        state[_WRAPPER_SEGMENTS.sub("", key.removeprefix("model."))] = value
    if not state:
        raise CheckpointError("the checkpoint's state_dict has no `model.*` weights")
    return state


def _lora_spec(spec: Any) -> Any:
    if spec is None:
        return None
    from vlm_ocr.model.peft import as_lora_spec

    return as_lora_spec(spec)


def _read_peft(path: Path) -> Checkpoint:
    from peft import LoraConfig
    from safetensors.torch import load_file

    config = json.loads((path / "adapter_config.json").read_text())
    if config.get("peft_type", "LORA") != "LORA":
        raise CheckpointError(f"{path}: a {config.get('peft_type')} adapter; only LoRA adapters can be merged")
    weights = path / "adapter_model.safetensors"
    if weights.is_file():
        state = load_file(weights)
    elif (path / "adapter_model.bin").is_file():
        state = torch.load(path / "adapter_model.bin", map_location="cpu", weights_only=True)
    else:
        raise CheckpointError(f"{path}: no adapter_model.safetensors beside adapter_config.json")
    return Checkpoint(path, "peft", config.get("base_model_name_or_path"), state, LoraConfig.from_pretrained(path))
