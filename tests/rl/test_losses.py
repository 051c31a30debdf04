"""The policy loss on hand-checkable tensors: how each loss type weighs tokens, clipping, the KL term."""

import pytest
import torch

from vlm_ocr.rl.losses import PolicyLossSpec, k3_kl, policy_loss

MASK = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]])  # completions of 4 and 1 tokens
ADV = torch.tensor([1.0, -2.0])


def loss(spec, logps=None, **kwargs):
    logps = torch.zeros(2, 4, requires_grad=True) if logps is None else logps
    result = policy_loss(logps, ADV, MASK, spec, **kwargs)
    (grad,) = torch.autograd.grad(result.loss, logps)
    return result, grad


def test_one_iteration_each_loss_type_weighs_tokens_its_own_way():
    # ratio 1: every token term is -A; only the sums and their normalizers differ
    assert loss(PolicyLossSpec("grpo"))[0].loss.item() == pytest.approx(-(1.0 - 2.0) / 2)
    assert loss(PolicyLossSpec("bnpo"))[0].loss.item() == pytest.approx(-(4 * 1.0 - 2.0) / 5)
    assert loss(PolicyLossSpec("dr_grpo", max_completion_length=8))[0].loss.item() == pytest.approx(-2.0 / 16)
    assert loss(PolicyLossSpec("dapo"), num_items=10)[0].loss.item() == pytest.approx(-2.0 / 10)
    _, grad = loss(PolicyLossSpec("grpo"))
    assert grad.tolist() == [[-0.125] * 4, [1.0, 0, 0, 0]]  # each completion counts the same, whatever its length


def test_clipped_tokens_pass_no_gradient():
    logps = torch.tensor([[0.5, 0.0, -0.5, 0.1], [0.0, 0.0, 0.0, 0.0]], requires_grad=True)
    old = torch.zeros(2, 4)
    result, grad = loss(PolicyLossSpec("bnpo", epsilon=0.2), logps, old_logps=old)
    # positive advantage: a ratio above 1.2 is clipped (no gradient), one below is not
    assert grad[0, 0] == 0 and grad[0, 2] != 0 and grad[0, 3] != 0
    assert float(result.clip_high) == pytest.approx(1 / 5) and float(result.clip_low) == 0
    _, grad = loss(PolicyLossSpec("bnpo", importance_sampling_level="sequence"), logps, old_logps=old)
    assert torch.all(grad[0] != 0)  # the sequence's mean log-ratio 0.025 stays inside the range


def test_kl_to_the_reference():
    logps = torch.log(torch.tensor([[0.5, 0.2, 0.3, 0.9], [0.4, 0.1, 0.1, 0.1]]))
    assert torch.equal(k3_kl(logps, logps), torch.zeros(2, 4))
    assert torch.all(k3_kl(logps, logps - 0.3) > 0)
    with pytest.raises(ValueError, match="reference"):
        loss(PolicyLossSpec("bnpo", beta=0.1))
    plain, _ = loss(PolicyLossSpec("bnpo"))
    with_kl, _ = loss(PolicyLossSpec("bnpo", beta=0.1), ref_logps=torch.full((2, 4), -0.5))
    expected_kl = float(torch.exp(torch.tensor(-0.5)) + 0.5 - 1)
    assert float(with_kl.kl) == pytest.approx(expected_kl)
    assert (with_kl.loss - plain.loss).item() == pytest.approx(0.1 * expected_kl, rel=1e-5)


def test_dr_grpo_needs_its_length_constant():
    with pytest.raises(ValueError, match="max_completion_length"):
        PolicyLossSpec("dr_grpo")
