"""ParameterSummary: trainable and frozen parameters per part of the model, in place of Lightning's summary."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.model_summary import get_human_readable_count


def part_name(parameter_name: str, depth: int = 3) -> str:
    """The part a parameter belongs to: its name up to the first layer number, at most `depth` levels deep."""
    parts = []
    for piece in parameter_name.removeprefix("model.").split("."):
        if piece.isdigit() or len(parts) == depth or piece in ("weight", "bias"):
            break
        parts.append(piece)
    return ".".join(parts)


def parameter_table(module: L.LightningModule) -> list[tuple[str, int, int]]:
    """(part, trainable, frozen) parameter counts, in the model's order."""
    counts: dict[str, list[int]] = {}
    for name, parameter in module.named_parameters():
        row = counts.setdefault(part_name(name), [0, 0])
        row[0 if parameter.requires_grad else 1] += parameter.numel()
    return [(name, trainable, frozen) for name, (trainable, frozen) in counts.items()]


class ParameterSummary(ModelSummary):
    """Logs trainable and frozen parameters of each part (vision blocks, merger, decoder layers, lm_head, ...) at
    the start of fit. It replaces Lightning's summary, whose FLOPs column reads 0 without an example input and
    whose mode column is read before the module switches to train mode."""

    def __init__(self) -> None:
        super().__init__(max_depth=1)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rows = parameter_table(pl_module)
        width = max([len(name) for name, _, _ in rows] + [4])
        lines = [f"{'part':<{width}}  {'trainable':>10}  {'frozen':>10}"]
        lines += [
            f"{name:<{width}}  {get_human_readable_count(t):>10}  {get_human_readable_count(f):>10}"
            for name, t, f in rows
        ]
        trainable, frozen = sum(r[1] for r in rows), sum(r[2] for r in rows)
        lines.append(
            f"{'total':<{width}}  {get_human_readable_count(trainable):>10}  {get_human_readable_count(frozen):>10}"
        )
        rank_zero_info("parameters:\n" + "\n".join(lines))
