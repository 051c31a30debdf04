"""Group-relative advantages, as TRL's GRPOTrainer computes them, and the masks the loss takes them with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

ScaleRewards = Literal["group", "batch", "none"]


@dataclass(frozen=True)
class Advantages:
    """The advantages of a batch of groups (rows of a group consecutive) and what they were computed from."""

    advantages: torch.Tensor
    """(N,) reward minus its group's mean, divided by the std (`group`, `batch`) plus 1e-4; 0 where the reward
    is NaN (a completion no reward could score)."""
    zero_variance: torch.Tensor
    """(groups,) True where a group's rewards are all equal (its advantages are 0: nothing to learn from it)."""
    group_mean: torch.Tensor
    """(groups,) mean reward of each group."""
    group_std: torch.Tensor
    """(groups,) unbiased std of each group's rewards."""

    def zero_variance_share(self) -> float:
        return float(self.zero_variance.float().mean()) if self.zero_variance.numel() else 0.0

    def learning_rows(self) -> torch.Tensor:
        """(N,) True for the completions of groups whose rewards vary (to skip the others, if asked)."""
        group_size = self.advantages.numel() // max(self.zero_variance.numel(), 1)
        return (~self.zero_variance).repeat_interleave(group_size)


def _nanstd(values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Unbiased std ignoring NaN, NaN for fewer than two values (TRL's nanstd, operation for operation)."""
    mean = torch.nanmean(values, dim=dim, keepdim=True)
    variance = torch.nanmean((values - mean) ** 2, dim=dim, keepdim=True)
    count = torch.sum(~torch.isnan(values), dim=dim, keepdim=True)
    correction = torch.where(count > 1, count / (count - 1), torch.full_like(count, float("nan"), dtype=mean.dtype))
    std = torch.sqrt(variance * correction)
    return std.squeeze(dim) if dim is not None else std.reshape(())


def group_advantages(rewards: torch.Tensor, group_size: int, scale_rewards: ScaleRewards = "group") -> Advantages:
    """Advantages of (N,) rewards whose groups of `group_size` consecutive rows are one prompt's completions.

    TRL's GRPOTrainer, sum-then-normalize: the baseline is the group's mean; `group` divides by the group's std,
    `batch` by the std of every reward given (under DDP pass the gathered batch, as TRL gathers it), `none` by
    nothing (Dr. GRPO). NaN rewards stay out of the means and stds and get advantage 0.
    """
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards of shape {tuple(rewards.shape)} do not split into groups of {group_size}")
    grouped = rewards.view(-1, group_size)
    mean = torch.nanmean(grouped, dim=1)
    std = _nanstd(grouped, dim=1) if group_size > 1 else torch.zeros_like(mean)
    advantages = rewards - mean.repeat_interleave(group_size)
    if scale_rewards == "group":
        advantages = advantages / (std.repeat_interleave(group_size) + 1e-4)
    elif scale_rewards == "batch":
        batch_std = _nanstd(rewards) if rewards.numel() > 1 else torch.zeros(())
        advantages = advantages / (batch_std + 1e-4)
    elif scale_rewards != "none":
        raise ValueError(f"scale_rewards must be group, batch or none, got {scale_rewards!r}")
    zero_variance = torch.isclose(std, torch.zeros_like(std))
    return Advantages(torch.nan_to_num(advantages, nan=0.0), zero_variance, mean, std)


def mask_truncated(completion_mask: torch.Tensor, truncated: torch.Tensor) -> torch.Tensor:
    """(N, T) completion mask with the rows of truncated completions (no end token) zeroed: they take no part in
    the loss (TRL's mask_truncated_completions)."""
    return completion_mask * (~truncated.bool()).unsqueeze(1).to(completion_mask.dtype)
