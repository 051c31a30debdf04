"""Model soup: the uniform parameter average of several fine-tuned runs of the same base model."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from vlm_ocr.export.checkpoints import Checkpoint, CheckpointError, read_checkpoint

logger = logging.getLogger(__name__)


def soup(paths: Sequence[Path], build: Callable[[Checkpoint], Any]) -> Any:
    """Read and build each checkpoint in turn (LoRA merged first) and average all parameters in float32.

    Only one checkpoint, one model and the float32 running sum are in memory at a time. The average is
    rounded once into the last model, which is returned.
    """
    total: dict[str, torch.Tensor] = {}
    fixed: dict[str, torch.Tensor] = {}
    first: Checkpoint | None = None
    model = state = None
    for path in paths:
        model = state = None  # free the previous model before building the next one
        checkpoint = read_checkpoint(path)
        model = build(checkpoint)
        checkpoint.state = None
        state = model.state_dict()
        if first is None:
            first = checkpoint
            total = {k: v.detach().to(torch.float32, copy=True) for k, v in state.items() if v.is_floating_point()}
            fixed = {k: v.detach().clone() for k, v in state.items() if not v.is_floating_point()}
            continue
        check_compatible(first, total, fixed, checkpoint, state)
        for key, value in total.items():
            value.add_(state[key].to(torch.float32))
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if key in total:
                value.copy_(total[key].div_(len(paths)))
    logger.info("souped %d checkpoints: %s", len(paths), ", ".join(map(str, paths)))
    return model


def check_compatible(
    first: Checkpoint,
    total: dict[str, torch.Tensor],
    fixed: dict[str, torch.Tensor],
    other: Checkpoint,
    state: dict[str, torch.Tensor],
) -> None:
    """Raise unless `state` has the same weights (names, shapes) as the first member; warn on another base."""
    names = total.keys() | fixed.keys()
    problems = [f"missing {k}" for k in sorted(names - state.keys())]
    problems += [f"unexpected {k}" for k in sorted(state.keys() - names)]
    reference = {**total, **fixed}
    problems += [
        f"shape of {k}: {tuple(reference[k].shape)} vs {tuple(v.shape)}"
        for k, v in state.items()
        if k in reference and v.shape != reference[k].shape
    ]
    problems += [
        f"non-float buffer {k} differs" for k, v in fixed.items() if k in state and not torch.equal(v, state[k])
    ]
    if problems:
        shown = "; ".join(problems[:6]) + (f"; ... ({len(problems)} in all)" if len(problems) > 6 else "")
        raise CheckpointError(f"cannot soup {other.path} with {first.path}: {shown}")
    if other.base != first.base:
        logger.warning(
            "souping checkpoints of different base models: %s (%s) and %s (%s)",
            first.path,
            first.base,
            other.path,
            other.base,
        )
