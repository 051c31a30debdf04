"""How closely each bf16 optimizer follows float32 AdamW at the recipe's lr, side by side in one run (CPU).

    python benchmarks/optimizer_fidelity.py --json benchmarks/results/optimizer_fidelity.json

A small bf16 model of decoder-like blocks (RMSNorm weights at 1.0, linear layers at std 0.02, a few hidden
widths) is fine-tuned towards a slightly perturbed copy of itself on fresh random inputs each step, with the
recipe's AdamW settings (lr 2e-5, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 but none on norms, gradient
clipping at 1.0). Every optimizer starts from the same bf16 weights, sees the same batches and computes its own
gradients through a bf16 forward. The reference is float32 AdamW on float32 master weights (bf16 compute, as
Lightning's bf16-mixed). For each optimizer it prints the measured bytes per trainable parameter (weights +
gradients + optimizer state) and the cosine and norm ratio of its total update (final minus initial weights)
against the reference's. Two more rows: the reference's final weights rounded to bf16 (the most of its update
that bf16 weights can hold, whatever the optimizer), and for a Kahan optimizer its weights plus the rounding
error it still holds for the next steps. torchao's bf16 stochastic-rounding AdamW joins when torchao is
installed (`pip install torchao==0.18.0`; not a project dependency; it compiles its step with torch.compile, so
on a CPU it needs a C compiler and a few minutes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

HYPER = {"lr": 2e-5, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}
BF16_CEILING = "float32 AdamW, final weights rounded to bf16"  # the most any optimizer on bf16 weights can show


class Block(nn.Module):
    """A decoder-like residual MLP block: RMSNorm, up projection, SiLU, down projection."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.RMSNorm(width, eps=1e-6)
        self.up = nn.Linear(width, 4 * width, bias=True)
        self.down = nn.Linear(4 * width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(nn.functional.silu(self.up(self.norm(x))))


class Stack(nn.Module):
    """Independent blocks of several widths; the loss is the sum over them."""

    def __init__(self, widths: list[int]):
        super().__init__()
        self.blocks = nn.ModuleList(Block(w) for w in widths)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [block(x) for block, x in zip(self.blocks, inputs, strict=True)]


def build_models(widths: list[int], seed: int) -> tuple[Stack, Stack]:
    """(start, target): bf16-representable start weights and a target 2% away from them."""
    torch.manual_seed(seed)
    start, target = Stack(widths), Stack(widths)
    for name, param in start.named_parameters():
        if name.endswith("norm.weight"):
            param.data.fill_(1.0)
        else:
            param.data.normal_(0.0, 0.02)
    for param in start.parameters():
        param.data = param.data.bfloat16().float()
    target.load_state_dict(start.state_dict())
    for param in target.parameters():
        param.data += 0.02 * param.data.abs().mean() * torch.randn_like(param)
    return start, target


def param_groups(model: nn.Module) -> list[dict]:
    """The recipe's split: decay on linear weights, none on biases and norms."""
    decay = [p for n, p in model.named_parameters() if n.endswith(("up.weight", "down.weight"))]
    rest = [p for n, p in model.named_parameters() if not n.endswith(("up.weight", "down.weight"))]
    return [{"params": decay}, {"params": rest, "weight_decay": 0.0}]


def optimizers() -> dict[str, tuple[torch.dtype, Callable]]:
    """name -> (weight dtype, factory of the optimizer from parameter groups)."""
    from optimi import AdamW as OptimiAdamW

    choices: dict[str, tuple[torch.dtype, Callable]] = {
        "float32 AdamW (reference)": (torch.float32, lambda g: torch.optim.AdamW(g, **HYPER)),
        "torch AdamW on bf16 (the original)": (torch.bfloat16, lambda g: torch.optim.AdamW(g, **HYPER)),
        "optimi AdamW, Kahan summation": (torch.bfloat16, lambda g: OptimiAdamW(g, kahan_sum=True, **HYPER)),
    }
    try:
        from torchao.optim import _AdamW as TorchaoAdamW  # private in torchao 0.18 ("for quantized training")

        choices["torchao AdamW, bf16 stochastic rounding"] = (
            torch.bfloat16,
            lambda g: TorchaoAdamW(g, bf16_stochastic_round=True, **HYPER),
        )
    except ImportError:
        pass
    return choices


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the per-parameter optimizer state tensors (scalar step counters left out)."""
    return sum(
        t.untyped_storage().nbytes()
        for state in optimizer.state.values()
        for t in state.values()
        if isinstance(t, torch.Tensor) and t.dim() > 0
    )


def train(name, dtype, factory, start, target, widths, args) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """(flat total update in float64, the same plus any Kahan compensation, bytes per parameter) of one optimizer
    over args.steps steps."""
    master = Stack(widths)
    master.load_state_dict(start.state_dict())
    master.to(dtype)
    compute = master if dtype == torch.bfloat16 else Stack(widths).to(torch.bfloat16)
    optimizer = factory(param_groups(master))
    generator = torch.Generator().manual_seed(args.seed + 1)
    for _ in range(args.steps):
        inputs = [torch.randn(args.tokens, w, generator=generator) for w in widths]
        with torch.no_grad():
            wanted = [y.bfloat16() for y in target(inputs)]
        if compute is not master:
            compute.load_state_dict(master.state_dict())  # bf16 compute copy of the float32 master weights
        outputs = compute([x.bfloat16() for x in inputs])
        loss = sum(nn.functional.mse_loss(y.float(), t.float()) for y, t in zip(outputs, wanted, strict=True))
        compute.zero_grad(set_to_none=True)
        loss.backward()
        if compute is not master:
            for p, c in zip(master.parameters(), compute.parameters(), strict=True):
                p.grad = c.grad.float()
        torch.nn.utils.clip_grad_norm_(master.parameters(), 1.0)
        optimizer.step()
        master.zero_grad(set_to_none=False)
    params = list(master.parameters())
    numel = sum(p.numel() for p in params)
    weights_and_grads = sum(p.untyped_storage().nbytes() + p.grad.untyped_storage().nbytes() for p in params)
    update = torch.cat(
        [(p.detach().double() - s.double()).flatten() for p, s in zip(params, start.parameters(), strict=True)]
    )
    compensations = [optimizer.state[p].get("kahan_comp") for p in params]
    held = None  # what a Kahan optimizer holds: the weights plus the rounding error it has yet to apply
    if all(c is not None for c in compensations):
        held = update + torch.cat([c.double().flatten() for c in compensations])
    return update, held, (weights_and_grads + state_bytes(optimizer)) / numel


def compare(name: str, update: torch.Tensor, reference: torch.Tensor, bytes_per_param: float | None) -> dict:
    """Print and return the cosine and norm ratio of an update against the reference's."""
    cosine = torch.nn.functional.cosine_similarity(update, reference, dim=0).item()
    ratio = (update.norm() / reference.norm()).item()
    size = "     -" if bytes_per_param is None else f"{bytes_per_param:6.2f}"
    print(f"{name:56s} {size} B/param  cosine {cosine:.4f}  norm ratio {ratio:.4f}", flush=True)
    size = None if bytes_per_param is None else round(bytes_per_param, 2)
    return {"bytes_per_param": size, "cosine": round(cosine, 4), "norm_ratio": round(ratio, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--tokens", type=int, default=32, help="rows per batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="substrings of the optimizers to run")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here (atomically)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    start, target = build_models(args.widths, args.seed)
    results, reference = {}, None
    for name, (dtype, factory) in optimizers().items():
        if args.only is not None and reference is not None and not any(s in name for s in args.only):
            continue
        update, held, bytes_per_param = train(name, dtype, factory, start, target, args.widths, args)
        if reference is None:
            reference = update
            results[name] = compare(name, update, reference, bytes_per_param)
            initial = torch.cat([p.detach().double().flatten() for p in start.parameters()])
            rounded = (initial + update).bfloat16().double() - initial  # its final weights stored in bf16
            results[BF16_CEILING] = compare(BF16_CEILING, rounded, reference, None)
        else:
            results[name] = compare(name, update, reference, bytes_per_param)
        if held is not None:
            results[f"{name}: weights + compensation"] = compare(
                f"{name}: weights + compensation", held, reference, None
            )
    numel = sum(p.numel() for p in start.parameters())
    report = {"steps": args.steps, "widths": args.widths, "tokens": args.tokens, "parameters": numel, **HYPER}
    report["results"] = results
    report["torch"] = torch.__version__
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=args.json.parent, delete=False, suffix=".tmp") as handle:
            handle.write(text + "\n")
        os.replace(handle.name, args.json)
    if not math.isfinite(sum(r["cosine"] for r in results.values())):
        raise SystemExit("optimizer_fidelity: a non-finite update; see the table above")


if __name__ == "__main__":
    main()
