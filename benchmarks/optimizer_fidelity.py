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

Two measurements, side by side in one run:

- own gradients (above): each optimizer trains its own bf16 model, so its update against the reference mixes
  its arithmetic with trajectories that part (each side takes its gradients at its own rounded weights).
- shared gradients: the same optimizers, each on its own bf16 copy of the start weights, are stepped in lockstep
  with the reference and receive the reference's gradients (computed once per step along the float32
  trajectory, after clipping), cast to their gradient dtype. The trajectories cannot part, so what remains is the
  optimizer's arithmetic and the bf16 storage of its weights; the ceiling row is the same reference rounded.
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
    """name -> (weight dtype, factory of the optimizer from parameter groups): every optimizer the project offers."""
    from optimi import AdamW as OptimiAdamW

    from vlm_ocr.optim import Bf16AdamW

    choices: dict[str, tuple[torch.dtype, Callable]] = {
        "float32 AdamW (reference)": (torch.float32, lambda g: torch.optim.AdamW(g, **HYPER)),
        "torch AdamW on bf16 (the original)": (torch.bfloat16, lambda g: torch.optim.AdamW(g, **HYPER)),
        "optimi AdamW, Kahan summation": (
            torch.bfloat16,
            lambda g: OptimiAdamW(g, kahan_sum=True, decouple_lr=False, **HYPER),  # the former recipe
        ),
        "Bf16AdamW, Kahan weights, bf16 moments (the recipe)": (torch.bfloat16, lambda g: Bf16AdamW(g, **HYPER)),
        "Bf16AdamW, Kahan weights, float32 moments": (
            torch.bfloat16,
            lambda g: Bf16AdamW(g, moments="float32", **HYPER),
        ),
        "Bf16AdamW, stochastic weights, bf16 moments (80 GB overlay)": (
            torch.bfloat16,
            lambda g: Bf16AdamW(g, weights="stochastic", **HYPER),
        ),
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


def measure(params: list[torch.Tensor], start: nn.Module, optimizer: torch.optim.Optimizer):
    """(flat total update in float64, the same plus any Kahan compensation, bytes per parameter)."""
    numel = sum(p.numel() for p in params)
    weights_and_grads = sum(p.untyped_storage().nbytes() + p.grad.untyped_storage().nbytes() for p in params)
    update = torch.cat(
        [(p.detach().double() - s.double()).flatten() for p, s in zip(params, start.parameters(), strict=True)]
    )
    compensations = [optimizer.state[p].get("kahan_comp", optimizer.state[p].get("compensation")) for p in params]
    held = None  # what a Kahan optimizer holds: the weights plus the rounding error it has yet to apply
    if all(c is not None for c in compensations):
        held = update + torch.cat([c.double().flatten() for c in compensations])
    return update, held, (weights_and_grads + state_bytes(optimizer)) / numel


def train(dtype, factory, start, target, widths, args, followers=None) -> tuple[tuple, dict[str, tuple]]:
    """One optimizer over args.steps steps on gradients of its own: measure()'s triple. `followers` (name ->
    (weight dtype, factory)) are stepped in lockstep on copies of the start weights with this run's clipped
    gradients cast to their weights' dtype; their triples come back by name."""
    master = Stack(widths)
    master.load_state_dict(start.state_dict())
    master.to(dtype)
    compute = master if dtype == torch.bfloat16 else Stack(widths).to(torch.bfloat16)
    optimizer = factory(param_groups(master))
    trailing = {}  # name -> (its model, its optimizer)
    for name, (follower_dtype, follower_factory) in (followers or {}).items():
        model = Stack(widths)
        model.load_state_dict(start.state_dict())
        model.to(follower_dtype)
        trailing[name] = (model, follower_factory(param_groups(model)))
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
        for model, follower in trailing.values():
            for p, g in zip(model.parameters(), master.parameters(), strict=True):
                p.grad = g.grad.to(p.dtype, copy=True)  # a copy each: optimi's Kahan step uses .grad as scratch
            follower.step()
        optimizer.step()
        master.zero_grad(set_to_none=False)
    shared = {name: measure(list(model.parameters()), start, follower) for name, (model, follower) in trailing.items()}
    return measure(list(master.parameters()), start, optimizer), shared


def compare(name: str, update: torch.Tensor, reference: torch.Tensor, bytes_per_param: float | None) -> dict:
    """Print and return the cosine and norm ratio of an update against the reference's."""
    cosine = torch.nn.functional.cosine_similarity(update, reference, dim=0).item()
    ratio = (update.norm() / reference.norm()).item()
    size = "     -" if bytes_per_param is None else f"{bytes_per_param:6.2f}"
    print(f"{name:64s} {size} B/param  cosine {cosine:.4f}  norm ratio {ratio:.4f}", flush=True)
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
    choices = optimizers()
    reference_name = next(iter(choices))
    chosen = {
        name: choice
        for name, choice in list(choices.items())[1:]
        if args.only is None or any(s in name for s in args.only)
    }
    initial = torch.cat([p.detach().double().flatten() for p in start.parameters()])

    def table(rows: dict[str, tuple], reference: torch.Tensor, reference_bytes: float) -> dict:
        results = {reference_name: compare(reference_name, reference, reference, reference_bytes)}
        rounded = (initial + reference).bfloat16().double() - initial  # its final weights stored in bf16
        results[BF16_CEILING] = compare(BF16_CEILING, rounded, reference, None)
        for name, (update, held, bytes_per_param) in rows.items():
            results[name] = compare(name, update, reference, bytes_per_param)
            if held is not None:
                results[f"{name}: weights + compensation"] = compare(
                    f"{name}: weights + compensation", held, reference, None
                )
        return results

    # the reference on its own gradients, with every chosen optimizer stepped on the same gradients alongside
    (reference, _, reference_bytes), shared = train(*choices[reference_name], start, target, args.widths, args, chosen)
    own = {name: train(*choice, start, target, args.widths, args)[0] for name, choice in chosen.items()}
    print("own gradients: each optimizer takes its gradients through a bf16 forward at its own weights", flush=True)
    own_results = table(own, reference, reference_bytes)
    print("shared gradients: each optimizer receives the reference's clipped gradients, cast to its dtype", flush=True)
    shared_results = table(shared, reference, reference_bytes)
    numel = sum(p.numel() for p in start.parameters())
    report = {"steps": args.steps, "widths": args.widths, "tokens": args.tokens, "parameters": numel, **HYPER}
    report["own_gradients"] = own_results
    report["shared_gradients"] = shared_results
    report["torch"] = torch.__version__
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=args.json.parent, delete=False, suffix=".tmp") as handle:
            handle.write(text + "\n")
        os.replace(handle.name, args.json)
    if not math.isfinite(sum(r["cosine"] for r in [*own_results.values(), *shared_results.values()])):
        raise SystemExit("optimizer_fidelity: a non-finite update; see the table above")


if __name__ == "__main__":
    main()
