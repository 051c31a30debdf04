"""The recipe's optimizer, built through the real CLI from the experiment configs, on bf16 weights at lr 2e-5."""

import io
from pathlib import Path

import pytest
import torch
from torch import nn

from vlm_ocr.experiment_cli import build_cli
from vlm_ocr.model.parameters import decay_parameter_groups

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
RECIPES = [["mix_1025.yaml"], ["mix_1025.yaml", "overlays/ddp.yaml"], ["mix_1025.yaml", "overlays/fsdp.yaml"]]


def recipe_optimizer(configs, cli_env, *overrides):
    """The optimizer factory exactly as `fit --config experiments/<config> ...` builds it."""
    args = [arg for config in configs for arg in ("--config", str(EXPERIMENTS / config))]
    args = [*args, *cli_env, "--trainer.accelerator", "cpu", *overrides]
    return build_cli(args, run=False).model.optimizer_factory


def tiny_model(dtype: torch.dtype) -> nn.Module:
    """Linear weights at std 0.02 (decay), a bias and an RMSNorm weight at 1.0 (no decay), like a decoder's."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.SiLU(), nn.RMSNorm(128), nn.Linear(128, 64, bias=False))
    for param in model.parameters():
        nn.init.normal_(param, 0.0, 0.02) if param.ndim == 2 else nn.init.ones_(param)
    return model.to(dtype)


def gradients(model: nn.Module, steps: int) -> list[list[torch.Tensor]]:
    """A steady direction plus twice as much noise, rounded to bf16: what both sides receive, step by step."""
    generator = torch.Generator().manual_seed(1)
    signal = [torch.randn(p.shape, generator=generator) for p in model.parameters()]
    return [
        [(s + 2 * torch.randn(s.shape, generator=generator)).mul(1e-3).bfloat16() for s in signal] for _ in range(steps)
    ]


def train(model: nn.Module, optimizer: torch.optim.Optimizer, grads: list[list[torch.Tensor]]) -> None:
    for step_grads in grads:
        for param, grad in zip(model.parameters(), step_grads, strict=True):
            param.grad = grad.to(param.dtype, copy=True)
        optimizer.step()


def total_update(model: nn.Module, start: nn.Module) -> torch.Tensor:
    return torch.cat(
        [
            (p.detach().float() - s.detach().float()).flatten()
            for p, s in zip(model.parameters(), start.parameters(), strict=True)
        ]
    )


@pytest.mark.parametrize("configs", RECIPES, ids="+".join)
def test_recipe_optimizer_keeps_small_updates_on_bf16_weights(configs, cli_env):
    factory = recipe_optimizer(configs, cli_env)
    start, model, reference = tiny_model(torch.bfloat16), tiny_model(torch.bfloat16), tiny_model(torch.bfloat16)
    reference.float()  # the same starting values, float32 weights and moments
    grads = gradients(model, steps=300)
    train(model, factory(decay_parameter_groups(model)), grads)
    groups = decay_parameter_groups(reference)
    train(reference, torch.optim.AdamW(groups, lr=2e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), grads)
    ours, wanted = total_update(model, start), total_update(reference, start)
    cosine = torch.nn.functional.cosine_similarity(ours, wanted, dim=0).item()
    assert cosine >= 0.99 and 0.97 <= (ours.norm() / wanted.norm()).item() <= 1.03, cosine


def test_weight_decay_and_groups_mean_what_torch_adamw_means(cli_env):
    """At a large lr the decay is visible: lr x weight_decay per step on weights, none on biases and norms."""
    factory = recipe_optimizer(["mix_1025.yaml"], cli_env, "--model.optimizer.init_args.lr", "0.05")
    model, reference = tiny_model(torch.float32), tiny_model(torch.float32)
    grads = gradients(model, steps=30)
    train(model, factory(decay_parameter_groups(model)), grads)
    torch_groups = decay_parameter_groups(reference)
    train(reference, torch.optim.AdamW(torch_groups, lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), grads)
    for ours, wanted in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(ours, wanted, rtol=1e-5, atol=1e-6)


def test_state_resumes_bit_identically_from_a_checkpoint(cli_env):
    """Lightning checkpoints the optimizer's state_dict; the resumed run continues exactly (Kahan terms included)."""
    factory = recipe_optimizer(["mix_1025.yaml"], cli_env)
    model, resumed = tiny_model(torch.bfloat16), tiny_model(torch.bfloat16)
    grads = gradients(model, steps=20)
    optimizer = factory(decay_parameter_groups(model))
    train(model, optimizer, grads[:10])
    buffer = io.BytesIO()
    torch.save({"weights": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed.load_state_dict(checkpoint["weights"])
    resumed_optimizer = factory(decay_parameter_groups(resumed))
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    assert all({"exp_avg", "exp_avg_sq", "compensation"} <= state.keys() for state in resumed_optimizer.state.values())
    train(model, optimizer, grads[10:])
    train(resumed, resumed_optimizer, grads[10:])
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), resumed.parameters(), strict=True))
