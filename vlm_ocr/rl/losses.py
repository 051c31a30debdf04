"""The GRPO policy loss as TRL's GRPOTrainer computes it, as a pure function of per-token tensors.

Shapes: (B, T) per-token log-probabilities of B completions under the policy (with gradients), under the policy
that sampled them (`old`, for num_iterations > 1) and under the frozen reference (for beta > 0), their (B, T)
completion mask and (B,) advantages. tests/parity checks the loss and its gradient against TRL's own
`GRPOTrainer.compute_loss` for every loss type and ratio level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

LossType = Literal["grpo", "bnpo", "dr_grpo", "dapo"]


@dataclass(frozen=True)
class PolicyLossSpec:
    """How the clipped surrogate is weighted and summed (TRL's GRPOConfig names and defaults)."""

    loss_type: LossType = "bnpo"
    """How token terms are summed: `grpo` the mean of each completion's token mean; `bnpo` the mean over the
    batch's tokens (the original's); `dr_grpo` the token sum over (completions x max_completion_length); `dapo`
    the token sum over the tokens of the whole generation batch (`num_items`)."""
    importance_sampling_level: Literal["token", "sequence"] = "token"
    """Ratio of each token (`token`, PPO's), or of the whole completion: the exp of its mean token log-ratio
    (`sequence`, GSPO's)."""
    epsilon: float = 0.2
    """Lower clip: the ratio is kept within [1 - epsilon, 1 + epsilon_high]."""
    epsilon_high: float | None = None
    """Upper clip (None: epsilon; DAPO's clip-higher uses 0.28)."""
    delta: float | None = None
    """Upper bound of the unclipped ratio (two-sided clipping, INTELLECT-2); None: none."""
    beta: float = 0.0
    """Weight of the per-token KL to the reference (k3 estimator); 0 needs no reference."""
    kl_importance_weighted: bool = False
    """Multiply the KL term by the importance ratio, so that its gradient is unbiased for samples of the old
    policy (TRL 1.x's `use_bias_correction_kl`, on by default there). Off: the original's TRL (0.23) had no such
    term; it also changes the gradient when the ratio is 1."""
    max_completion_length: int | None = None
    """The constant of `dr_grpo`'s normalizer (the rollout's max new tokens)."""

    def __post_init__(self) -> None:
        if self.loss_type == "dr_grpo" and not self.max_completion_length:
            raise ValueError("loss_type dr_grpo needs max_completion_length")


class PolicyLoss(NamedTuple):
    loss: torch.Tensor
    """The batch's loss, as TRL's compute_loss returns it with one accumulation step and one process."""
    kl: torch.Tensor | None
    """Mean per-token KL to the reference over the unmasked tokens (detached); None for beta 0."""
    clip_low: torch.Tensor
    """Share of unmasked tokens (or completions, at sequence level) clipped below with a negative advantage."""
    clip_high: torch.Tensor
    """Share clipped above with a positive advantage."""
    clip_region: torch.Tensor
    """Share clipped either way."""


def k3_kl(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token KL(policy || reference) estimate exp(r - p) - (r - p) - 1: non-negative, unbiased (Schulman's k3)."""
    delta = ref_logps - logps
    return torch.exp(delta) - delta - 1


def importance_log_weights(
    logps: torch.Tensor, old_logps: torch.Tensor, mask: torch.Tensor, level: Literal["token", "sequence"]
) -> torch.Tensor:
    """log(policy / old) per token (B, T), or per completion as the masked mean over its tokens (B, 1)."""
    log_ratio = logps - old_logps
    if level == "token":
        return log_ratio
    if level == "sequence":
        return ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)
    raise ValueError(f"importance_sampling_level must be token or sequence, got {level!r}")


def policy_loss(
    logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    spec: PolicyLossSpec,
    old_logps: torch.Tensor | None = None,
    ref_logps: torch.Tensor | None = None,
    num_items: torch.Tensor | float | None = None,
) -> PolicyLoss:
    """The clipped-surrogate loss (+ beta x KL) of a batch of completions.

    Args:
        logps: (B, T) policy log-probabilities, with gradients.
        advantages: (B,) one advantage per completion.
        mask: (B, T) 1 on the completion tokens that count (end token included).
        spec: the loss settings.
        old_logps: (B, T) log-probabilities when sampled; None: the policy itself, detached (one iteration per
            rollout: every ratio is 1 and only its gradient acts).
        ref_logps: (B, T) reference log-probabilities; needed when spec.beta > 0.
        num_items: `dapo`'s normalizer: unmasked tokens of the whole generation batch (default: this batch's).

    With gradient accumulation TRL divides grpo, bnpo and dr_grpo by the accumulation steps (as Lightning does
    by itself) and dapo by nothing: its num_items already spans the steps.
    """
    mask = mask.to(logps.dtype)
    advantages = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    old_logps = logps.detach() if old_logps is None else old_logps
    coef_1 = torch.exp(importance_log_weights(logps, old_logps, mask, spec.importance_sampling_level))
    kl = None
    if spec.beta != 0.0:
        if ref_logps is None:
            raise ValueError("beta > 0 needs the reference log-probabilities")
        kl = k3_kl(logps, ref_logps)
        if spec.kl_importance_weighted:
            kl = kl * coef_1
    low, high = spec.epsilon, spec.epsilon if spec.epsilon_high is None else spec.epsilon_high
    coef_2 = torch.clamp(coef_1, 1 - low, 1 + high)
    if spec.delta is not None:
        coef_1 = torch.clamp(coef_1, max=spec.delta)
    per_token = -torch.min(coef_1 * advantages, coef_2 * advantages)
    if kl is not None:
        per_token = per_token + spec.beta * kl
    if spec.loss_type == "grpo":
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif spec.loss_type == "bnpo":
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    elif spec.loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (per_token.size(0) * spec.max_completion_length)
    elif spec.loss_type == "dapo":
        items = mask.sum() if num_items is None else torch.as_tensor(num_items, dtype=mask.dtype)
        loss = (per_token * mask).sum() / items.clamp(min=1.0)
    else:
        raise ValueError(f"unknown loss_type {spec.loss_type!r}")
    is_low = (coef_1 < 1 - low) & (advantages < 0)
    is_high = (coef_1 > 1 + high) & (advantages > 0)
    return PolicyLoss(
        loss,
        None if kl is None else _masked_mean(kl.detach(), mask),
        _masked_mean(is_low.float(), mask),
        _masked_mean(is_high.float(), mask),
        _masked_mean((is_low | is_high).float(), mask),
    )


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over unmasked tokens; over completions for (B, 1) sequence-level values."""
    if values.shape[1] == 1:
        return values.mean()
    return (values * mask).sum() / mask.sum().clamp(min=1.0)
