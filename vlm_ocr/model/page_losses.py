"""A batch's loss terms and what they average over: pages or answer tokens, and the pages of each dataset."""

from __future__ import annotations

from typing import NamedTuple

import torch


class LossTerms(NamedTuple):
    """The loss of a collated batch with what it was taken over."""

    loss: torch.Tensor
    answer_tokens: int
    page_losses: torch.Tensor  # each page's mean token loss, in the batch's page order (NaN: no answer tokens)


def loss_units(weighting: str, answer_tokens: int, page_losses: torch.Tensor) -> int:
    """What the loss averages over: pages with answer tokens (`page`) or answer tokens (`token`)."""
    if weighting == "token":
        return answer_tokens
    return int((~page_losses.isnan()).sum())


def dataset_losses(datasets: list[str | None], page_losses: torch.Tensor) -> dict[str, float]:
    """Mean of the page losses of each dataset in the batch (pages in batch order; NaN pages skipped)."""
    by_dataset: dict[str, list[float]] = {}
    for name, value in zip(datasets, page_losses.tolist(), strict=False):
        if value == value:  # not NaN: the page had answer tokens
            by_dataset.setdefault(name, []).append(value)
    return {name: sum(values) / len(values) for name, values in by_dataset.items()}
