import pytest
import torch

from vlm_ocr.optim import KahanAdamW


def run(optimizer_cls, dtype, steps=200, lr=1e-4):
    param = torch.nn.Parameter(torch.ones(8, dtype=dtype))
    optimizer = optimizer_cls([param], lr=lr, weight_decay=0.0)
    for _ in range(steps):
        param.grad = torch.ones_like(param)
        optimizer.step()
    return param.detach().float()


def test_small_updates_survive_in_bf16():
    plain = run(torch.optim.AdamW, torch.bfloat16)
    kahan = run(KahanAdamW, torch.bfloat16)
    fp32 = run(torch.optim.AdamW, torch.float32)
    assert torch.equal(plain, torch.ones(8))  # every 1e-4 step rounds away at 1.0 (bf16 spacing 2^-7)
    assert torch.allclose(kahan, fp32, atol=2e-3)  # about 200 x 1e-4 = 0.02 below 1.0, like fp32
    assert (kahan < 0.99).all()


@pytest.mark.parametrize("decay", [0.0, 0.01])
def test_matches_torch_adamw_in_fp32(decay):
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(4, 3))
    b = torch.nn.Parameter(a.detach().clone())
    ours, reference = KahanAdamW([a], lr=1e-2, weight_decay=decay), torch.optim.AdamW([b], lr=1e-2, weight_decay=decay)
    for _ in range(20):
        grad = torch.randn(4, 3)
        a.grad, b.grad = grad.clone(), grad.clone()
        ours.step()
        reference.step()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_state_round_trips_through_a_checkpoint():
    param = torch.nn.Parameter(torch.ones(3, dtype=torch.bfloat16))
    optimizer = KahanAdamW([param], lr=1e-4)
    param.grad = torch.ones_like(param)
    optimizer.step()
    restored = KahanAdamW([param], lr=1e-4)
    restored.load_state_dict(optimizer.state_dict())
    assert torch.equal(restored.state[param]["compensation"], optimizer.state[param]["compensation"])
