"""What a researcher reads of a GRPO step: rewards and their parts, pass rate per test type, groups without signal,
completion lengths and truncation, KL, clipping, rollout throughput."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from vlm_ocr.rl.advantages import Advantages
from vlm_ocr.rl.losses import PolicyLoss
from vlm_ocr.rl.rewards import COMPONENTS, Reward
from vlm_ocr.rl.rollout import Rollout


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan


def reward_metrics(prefix: str, rewards: Sequence[Reward]) -> dict[str, float]:
    """`<prefix>/reward` (mean weighted total), `<prefix>/reward/<component>` and `<prefix>/pass_rate/<test type>`
    (tests passed / tests run, over every completion)."""
    metrics = {f"{prefix}/reward": _mean([r.total for r in rewards])}
    for name in COMPONENTS:
        values = [r.components[name] for r in rewards if r.components.get(name) is not None]
        if values:
            metrics[f"{prefix}/reward/{name}"] = _mean(values)
    counts: dict[str, list[int]] = {}
    for reward in rewards:
        for test_type, (passed, run) in reward.by_test_type().items():
            row = counts.setdefault(test_type, [0, 0])
            row[0], row[1] = row[0] + passed, row[1] + run
    metrics.update({f"{prefix}/pass_rate/{t}": passed / run for t, (passed, run) in sorted(counts.items()) if run})
    return metrics


def length_metrics(prefix: str, rollout: Rollout) -> dict[str, float]:
    """Completion length in tokens (mean, max), the share truncated at max_new_tokens, and this rank's rollout
    tokens per second (the sampling call's wall time)."""
    lengths = rollout.completion_mask.sum(-1).float()
    return {
        f"{prefix}/completion_length/mean": float(lengths.mean()),
        f"{prefix}/completion_length/max": float(lengths.max()),
        f"{prefix}/truncated_share": float(rollout.truncated.float().mean()),
        f"{prefix}/rollout_tokens_per_s": rollout.tokens / rollout.seconds if rollout.seconds > 0 else 0.0,
    }


def step_metrics(rollout: Rollout, rewards: Sequence[Reward], advantages: Advantages, loss: PolicyLoss) -> dict:
    """Everything `train/` logs for one rollout batch."""
    metrics = {
        **reward_metrics("train", rewards),
        **length_metrics("train", rollout),
        "train/reward_std": float(torch.nan_to_num(advantages.group_std).mean()),  # TRL's: mean std per group
        "train/zero_variance_share": advantages.zero_variance_share(),
        "train/clip_fraction": float(loss.clip_region),
        "train/clip_fraction/low": float(loss.clip_low),
        "train/clip_fraction/high": float(loss.clip_high),
    }
    if loss.kl is not None:
        metrics["train/kl"] = float(loss.kl)
    return metrics


class StepWindow:
    """The metrics of the batches of one optimizer step, until it is logged: weighted means, and maxima of the
    `*/max` ones (a metric a batch lacks, such as a test type it has none of, averages over the batches that have
    it)."""

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = {}
        self.maxima: dict[str, float] = {}

    def add(self, metrics: dict[str, float], weight: float) -> None:
        for name, value in metrics.items():
            if name.endswith("/max"):
                self.maxima[name] = max(self.maxima.get(name, value), value)
            elif not math.isnan(value):
                total = self.sums.setdefault(name, [0.0, 0.0])
                total[0], total[1] = total[0] + value * weight, total[1] + weight

    def pop(self) -> tuple[dict[str, float], dict[str, float]]:
        """The step's means and maxima over every rank (the same on each: ranks may log different test types, so
        the windows are gathered whole rather than reduced key by key), and a fresh window."""
        windows = [(self.sums, self.maxima)]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            windows = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(windows, (self.sums, self.maxima))
        sums: dict[str, list[float]] = {}
        maxima: dict[str, float] = {}
        for rank_sums, rank_maxima in windows:
            for name, (value, weight) in rank_sums.items():
                total = sums.setdefault(name, [0.0, 0.0])
                total[0], total[1] = total[0] + value, total[1] + weight
            for name, value in rank_maxima.items():
                maxima[name] = max(maxima.get(name, value), value)
        self.sums, self.maxima = {}, {}
        return {name: value / weight for name, (value, weight) in sums.items() if weight}, maxima
