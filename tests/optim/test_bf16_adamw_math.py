"""Bf16AdamW without a model: the bf16 second moment follows float32's, and its stochastic rounding is unbiased and
reproducible."""

from pathlib import Path

import pytest
import torch

from vlm_ocr.experiment_cli import build_cli
from vlm_ocr.optim.rounding import round_to_bf16_stochastically

RECIPE = Path(__file__).resolve().parents[2] / "experiments" / "mix_1025.yaml"


def test_the_recipe_second_moment_follows_float32_on_stationary_noise(cli_env):
    """3,000 steps of the same noise: rounded to nearest, a bf16 second moment stops decreasing once beta2's 0.1%
    change falls below half its spacing (about step 700) and ratchets up to the largest recent squared gradient
    (torch-optimi's Kahan AdamW, the former recipe: 1.7-2.3 times float32's); the recipe's stays within 5%."""
    args = ["--config", str(RECIPE), *cli_env, "--trainer.accelerator", "cpu", "--model.optimizer.init_args.lr", "0"]
    factory = build_cli(args, run=False).model.optimizer_factory
    param = torch.nn.Parameter(torch.zeros(2048, dtype=torch.bfloat16))
    optimizer = factory([{"params": [param]}])
    exact = torch.zeros(2048)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3000):
        grad = (1e-3 * torch.randn(2048, generator=generator)).bfloat16()
        param.grad = grad
        optimizer.step()
        exact.mul_(0.999).addcmul_(grad.float(), grad.float(), value=0.001)
    stored = optimizer.state[param]["exp_avg_sq"]
    assert stored.dtype == torch.bfloat16
    assert abs((stored.float() / exact).median().item() - 1) < 0.05


def test_stochastic_rounding_is_unbiased_and_the_same_for_the_same_seed_and_element():
    value = torch.full((100_000,), 1 + 2**-10)  # a quarter of the way between the bf16 neighbours 1 and 1 + 2**-7
    index = torch.arange(value.numel())
    rounded = round_to_bf16_stochastically(value, index, seed=5)
    assert set(rounded.float().unique().tolist()) == {1.0, 1 + 2**-7}
    assert abs(rounded.float().mean().item() - value[0].item()) < 2e-5  # nearest rounding: always 1.0
    negative = round_to_bf16_stochastically(-value, index, seed=5)
    assert torch.equal(negative, -rounded)  # symmetric in sign
    assert torch.equal(round_to_bf16_stochastically(value, index, seed=5), rounded)  # counter-based: reproducible
    assert not torch.equal(round_to_bf16_stochastically(value, index, seed=6), rounded)
    exact = torch.tensor([1.5, -0.25, 0.0, 3.0])  # already bf16: never moved
    assert torch.equal(round_to_bf16_stochastically(exact, torch.arange(4), seed=1).float(), exact)


@pytest.mark.slow  # dynamo traces the update for about 20 s on a loaded CPU
def test_the_fused_update_traces_as_one_graph_and_matches_the_eager_one(monkeypatch):
    """The CUDA path (fused=None on a GPU) compiles adamw_update_ with fullgraph and dynamic sizes; traced with the
    eager backend here (no GPU, no inductor compile), it gives the eager chunks' bits in one graph for all sizes."""
    from torch._dynamo.utils import counters

    from vlm_ocr.optim import Bf16AdamW, update

    traced = torch.compile(update.adamw_update_, fullgraph=True, dynamic=True, backend="eager")
    monkeypatch.setattr(update, "compiled_update", lambda: traced)
    torch._dynamo.reset()
    counters.clear()
    runs = []
    for fused in (False, True):
        torch.manual_seed(0)
        params = [torch.nn.Parameter(0.02 * torch.randn(n).bfloat16()) for n in (3000, 5000)]
        optimizer = Bf16AdamW(params, lr=1e-3, fused=fused)
        generator = torch.Generator().manual_seed(1)
        for _ in range(3):
            for param in params:
                param.grad = torch.randn(param.shape, generator=generator).bfloat16()
            optimizer.step()
        runs.append([t for p in params for t in (p.detach(), *optimizer.state[p].values())])
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))
    assert counters["stats"]["unique_graphs"] == 1
