"""Group-normalised advantages, zero-variance groups and the truncation mask."""

import pytest
import torch

from vlm_ocr.rl.advantages import group_advantages, mask_truncated


def test_advantages_by_group_batch_or_not_scaled():
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, 2.0, 2.0, 2.0])
    first = rewards[:4]
    mean, std = first.mean(), first.std()  # unbiased, as TRL
    group = group_advantages(rewards, 4, "group")
    torch.testing.assert_close(group.advantages[:4], (first - mean) / (std + 1e-4))
    assert group.advantages[4:].tolist() == [0.0] * 4
    assert group.zero_variance.tolist() == [False, True] and group.zero_variance_share() == 0.5
    assert group.learning_rows().tolist() == [True] * 4 + [False] * 4
    batch = group_advantages(rewards, 4, "batch")
    torch.testing.assert_close(batch.advantages[:4], (first - mean) / (rewards.std() + 1e-4))
    none = group_advantages(rewards, 4, "none")
    torch.testing.assert_close(none.advantages[:4], first - mean)


def test_an_unscored_completion_is_left_out_of_its_group_and_learns_nothing():
    rewards = torch.tensor([1.0, float("nan"), 0.0, 0.5])
    result = group_advantages(rewards, 4)
    kept = torch.tensor([1.0, 0.0, 0.5])
    assert result.advantages[1] == 0.0
    torch.testing.assert_close(result.advantages[[0, 2, 3]], (kept - kept.mean()) / (kept.std() + 1e-4))


def test_rewards_must_split_into_groups():
    with pytest.raises(ValueError, match="do not split into groups of 4"):
        group_advantages(torch.zeros(6), 4)
    with pytest.raises(ValueError, match="scale_rewards"):
        group_advantages(torch.zeros(4), 2, "sequence")


def test_truncated_completions_can_be_masked_out():
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    assert mask_truncated(mask, torch.tensor([True, False])).tolist() == [[0, 0, 0], [1, 1, 0]]
