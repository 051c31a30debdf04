"""Each optimizer the project offers over a whole fine-tuning run at the recipe's length and schedule (CPU).

    python benchmarks/optimizer_finetune.py --json benchmarks/results/optimizer_finetune.json

The fine-tuning simulation: a residual MLP of 3 RMSNorm blocks (width 128, hidden 512, a 64-way head; linear weights
at std 0.02, norms at 1) is pretrained in float32 for --pretrain-steps steps to imitate one random teacher, then
fine-tuned for --steps optimizer steps (the recipe's 8,400: 270k pages / 32) towards a shifted teacher (every weight
moved by --shift of its tensor's spread), on 64 fresh random inputs per step, with the recipe's AdamW settings
(lr 2e-5, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 on linear weights only, clipping at 1.0) and schedule
(10% linear warmup, then linear decay to 0, transformers' `linear`). The loss is the KL divergence from the new
teacher's output distribution, measured at the end on 4,096 held-out inputs. Every optimizer starts from the same
pretrained weights rounded to bf16 and sees the same inputs; the bf16 ones train bf16 weights with bf16 gradients,
the reference is float32 AdamW on float32 master weights (as `bf16-mixed`); every forward reads the weights rounded
to bf16 and runs in float32 arithmetic (a CPU's bf16 matmuls are slow; activations are not rounded). For each it reports
the final KL, the cosine and norm ratio of its total update (final minus start weights, its bf16 weights alone)
against the reference's, and the measured bytes per trainable parameter (weights, gradients, state).

A second, model-free table: the ratchet of a bf16 second moment. Stationary Gaussian gradients (std 1e-3) go into
each optimizer at lr 0 for --ratchet-steps steps; the median over elements of its stored second moment over float32's
exact one (the same formula), at steps 1,000, 3,000 and the last. 1 is exact; above 1 the moment has stopped
following decreases (the optimizer steps short).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch
from optimizer_fidelity import HYPER, optimizers, param_groups, state_bytes
from torch import nn

WIDTH, HIDDEN, CLASSES, BLOCKS = 128, 512, 64, 3


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(WIDTH, eps=1e-6)
        self.up = nn.Linear(WIDTH, HIDDEN, bias=True)
        self.down = nn.Linear(HIDDEN, WIDTH, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(nn.functional.silu(self.up(self.norm(x))))


class ResidualMLP(nn.Module):
    """3 residual RMSNorm blocks and a head; param_groups (decay on up/down weights) apply as in optimizer_fidelity."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(*(Block() for _ in range(BLOCKS)))
        self.norm = nn.RMSNorm(WIDTH, eps=1e-6)
        self.head = nn.Linear(WIDTH, CLASSES, bias=False)
        for name, param in self.named_parameters():
            nn.init.ones_(param) if "norm" in name else nn.init.normal_(param, 0.0, 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(x)))


def param_groups_of(model: nn.Module) -> list[dict]:
    """The recipe's split: decay on linear weights (head included), none on biases and norms."""
    groups = param_groups(model)  # up/down weights decay
    head = model.head.weight
    groups[0]["params"].append(head)
    groups[1]["params"] = [p for p in groups[1]["params"] if p is not head]
    return groups


def kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student), mean over rows, in float32."""
    teacher = teacher_logits.float().log_softmax(-1)
    return nn.functional.kl_div(student_logits.float().log_softmax(-1), teacher, log_target=True, reduction="batchmean")


def teachers(seed: int, shift: float) -> tuple[ResidualMLP, ResidualMLP]:
    """(pretraining teacher, fine-tuning teacher): logits at a few nats of spread, the second shifted from the first."""
    torch.manual_seed(seed)
    old = ResidualMLP()
    with torch.no_grad():
        for name, param in old.named_parameters():
            if "norm" not in name:
                param.normal_(0.0, 0.15 if name.startswith("head") else 0.06)
    new = ResidualMLP()
    new.load_state_dict(old.state_dict())
    with torch.no_grad():
        for name, param in new.named_parameters():
            if "norm" not in name:
                param.add_(shift * param.std() * torch.randn_like(param))
    return old, new


def pretrain(teacher: nn.Module, steps: int, seed: int) -> ResidualMLP:
    """A student pretrained on the first teacher in float32 (AdamW lr 1e-3, cosine to 0)."""
    torch.manual_seed(seed + 1)
    student = ResidualMLP()
    optimizer = torch.optim.AdamW(param_groups_of(student), lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed + 2)
    for _ in range(steps):
        x = torch.randn(256, WIDTH, generator=generator)
        with torch.no_grad():
            target = teacher(x)
        loss = kl(student(x), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        for param in student.parameters():
            param.copy_(param.bfloat16().float())  # a bf16 checkpoint, as the 7B's
    return student


def finetune(dtype, factory, start: ResidualMLP, teacher: ResidualMLP, args) -> tuple[dict[str, torch.Tensor], float]:
    """One optimizer over the fine-tuning run: (its final weights in float32, bytes per trainable parameter)."""
    from transformers import get_scheduler

    master = ResidualMLP()
    master.load_state_dict(start.state_dict())
    master.to(dtype)
    compute = ResidualMLP()  # float32 arithmetic on the bf16 values (a CPU's bf16 matmuls are slow)
    optimizer = factory(param_groups_of(master))
    schedule = get_scheduler("linear", optimizer, num_warmup_steps=int(args.steps * 0.1), num_training_steps=args.steps)
    generator = torch.Generator().manual_seed(args.seed + 3)
    for step in range(args.steps):
        if step % 1000 == 0:
            print(f"  step {step}", flush=True)
        x = torch.randn(args.rows, WIDTH, generator=generator)
        with torch.no_grad():
            target = teacher(x)
            for c, p in zip(compute.parameters(), master.parameters(), strict=True):
                c.copy_(p.bfloat16())  # the forward sees bf16 weights, as under bf16-true or bf16-mixed
        loss = kl(compute(x.bfloat16().float()), target)
        compute.zero_grad(set_to_none=True)
        loss.backward()
        for p, c in zip(master.parameters(), compute.parameters(), strict=True):
            p.grad = c.grad.to(dtype)  # bf16 gradients for bf16 weights, float32 for float32 master weights
        torch.nn.utils.clip_grad_norm_(master.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    params = list(master.parameters())
    held = sum(p.untyped_storage().nbytes() + p.grad.untyped_storage().nbytes() for p in params)
    size = (held + state_bytes(optimizer)) / sum(p.numel() for p in params)
    return {n: p.detach().float() for n, p in master.named_parameters()}, size


def ratchet(factory, args) -> dict[str, float]:
    """Median of the stored second moment over float32's exact one, on stationary noise, at lr 0."""
    param = nn.Parameter(torch.zeros(4096, dtype=torch.bfloat16))
    optimizer = factory([{"params": [param]}])
    exact = torch.zeros(4096)
    generator = torch.Generator().manual_seed(args.seed + 4)
    beta2, marks, out = HYPER["betas"][1], {1000, 3000, args.ratchet_steps}, {}
    for step in range(1, args.ratchet_steps + 1):
        grad = (1e-3 * torch.randn(4096, generator=generator)).bfloat16()
        param.grad = grad.clone()
        optimizer.step()
        exact.mul_(beta2).addcmul_(grad.float(), grad.float(), value=1 - beta2)
        if step in marks:
            stored = optimizer.state[param]["exp_avg_sq"].float()
            if "kahan_comp" in optimizer.state[param]:  # optimi keeps the debiased moment
                stored = stored * (1 - beta2**step)
            out[f"step_{step}"] = round((stored / exact).median().item(), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8400, help="fine-tuning optimizer steps (the recipe: 8,400)")
    parser.add_argument("--ratchet-steps", type=int, default=8400, help="steps of the model-free second-moment table")
    parser.add_argument("--pretrain-steps", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=64, help="inputs per fine-tuning step")
    parser.add_argument("--shift", type=float, default=0.3, help="the new teacher's shift, in each tensor's std")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="substrings of the optimizers to run")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here (atomically)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # these matrices are small: more threads only wait on each other
    old, new = teachers(args.seed, args.shift)
    start = pretrain(old, args.pretrain_steps, args.seed)
    held_out = torch.randn(4096, WIDTH, generator=torch.Generator().manual_seed(args.seed + 5))
    with torch.no_grad():
        wanted = new(held_out)
        start_kl = kl(start(held_out), wanted).item()
    print(f"KL to the new teacher at the start of fine-tuning: {start_kl:.4f}", flush=True)
    choices = optimizers()
    reference_name = next(iter(choices))
    chosen = {
        n: c for n, c in choices.items() if args.only is None or n == reference_name or any(s in n for s in args.only)
    }
    initial = torch.cat([p.detach().double().flatten() for p in start.parameters()])
    results, reference = {}, None
    for name, (dtype, factory) in chosen.items():
        weights, size = finetune(dtype, factory, start, new, args)
        model = ResidualMLP()
        model.load_state_dict(weights)
        with torch.no_grad():
            final_kl = kl(model(held_out), wanted).item()  # its stored weights, evaluated in float32
        update = torch.cat([w.double().flatten() for w in weights.values()]) - initial
        reference = update if reference is None else reference
        cosine = torch.nn.functional.cosine_similarity(update, reference, dim=0).item()
        ratio = (update.norm() / reference.norm()).item()
        row = {"bytes_per_param": round(size, 2), "final_kl": round(final_kl, 4), "cosine": round(cosine, 4)}
        row["norm_ratio"] = round(ratio, 4)
        row["ratchet_v_over_float32"] = ratchet(factory, args) if dtype == torch.bfloat16 else None
        results[name] = row
        print(f"{name:62s} {json.dumps(row)}", flush=True)
    report = {"steps": args.steps, "pretrain_steps": args.pretrain_steps, "rows": args.rows, "shift": args.shift}
    report["ratchet_steps"] = args.ratchet_steps
    report.update(start_kl=round(start_kl, 4), parameters=initial.numel(), **HYPER, results=results)
    report["torch"] = torch.__version__
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=args.json.parent, delete=False, suffix=".tmp") as handle:
            handle.write(text + "\n")
        os.replace(handle.name, args.json)


if __name__ == "__main__":
    main()
