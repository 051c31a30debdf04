"""The parity check every export ends with: the written folder's logits and greedy tokens against the source's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class ParitySpec:
    """What the exported folder is compared on, and how close it must be."""

    pdfs: list[str] = field(default_factory=list)
    """PDF files or folders whose first `pages` pages are compared; empty: generated sample pages (at most 2)."""
    pages: int = 2
    """Most pages compared."""
    longest_side: int = 1288
    """Pixels of a rendered page's longest side."""
    new_tokens: int = 16
    """Greedy tokens generated per page for the generation check."""
    fp8_bound: float = 0.1
    """FP8 passes when max |logit difference| <= fp8_bound * max |source logit| (bf16/fp32 must be exact)."""


@dataclass
class PageOutputs:
    """What a model produced on one page."""

    logits: torch.Tensor
    """(positions, vocab) logits of the prompt, on the CPU in the model's dtype."""
    tokens: list[int]
    """Greedy tokens after the prompt (up to and including the end token)."""
    margins: list[float]
    """Top-1 minus top-2 logit at each generated step."""


@dataclass
class ParityReport:
    """Figures of the check; `passed` decides the export."""

    exact: bool
    max_abs_diff: float
    mean_abs_diff: float
    max_abs_logit: float
    bound: float
    top1_agreement: float
    tokens_source: list[list[int]]
    tokens_exported: list[list[int]]
    decisive_steps: list[int]
    """Per page: generated steps before the source's first near-tie (margin <= 2 * max_abs_diff); all when exact."""
    passed: bool
    reason: str


@torch.no_grad()
def run_pages(
    model: Any, prompts: list[dict[str, torch.Tensor]], new_tokens: int, end_ids: list[int]
) -> list[PageOutputs]:
    """Prompt logits and a short greedy generation for each page (a batch of one, so no padding is involved)."""
    outputs = []
    for prompt in prompts:
        inputs = {k: v.to(model.device) for k, v in prompt.items()}
        logits = model(**inputs).logits[0].cpu()
        generated = model.generate(
            **inputs,
            max_new_tokens=new_tokens,
            do_sample=False,
            eos_token_id=end_ids,
            pad_token_id=end_ids[-1],
            output_logits=True,
            return_dict_in_generate=True,
        )
        tokens = generated.sequences[0, inputs["input_ids"].shape[1] :].tolist()
        top2 = [step[0].float().topk(2).values for step in generated.logits]
        outputs.append(PageOutputs(logits, tokens, [float(t[0] - t[1]) for t in top2]))
    return outputs


def decisive_steps(margins: list[float], tolerance: float) -> int:
    """Generated steps before the first whose top-2 margin a logit error of `tolerance` could flip."""
    return next((i for i, margin in enumerate(margins) if margin <= 2 * tolerance), len(margins))


def common_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def compare(source: list[PageOutputs], exported: list[PageOutputs], relative_bound: float | None) -> ParityReport:
    """Exact (relative_bound None): logits and tokens identical. Bounded: max |diff| within the bound and the
    exported tokens equal the source's over every decisive step."""
    max_diff = max_logit = total_diff = 0.0
    positions = agreeing = values = 0
    for s, e in zip(source, exported, strict=True):
        want, got = s.logits.float(), e.logits.float()  # one page at a time: (positions, vocab)
        agreeing += int((want.argmax(-1) == got.argmax(-1)).sum())
        positions += want.shape[0]
        max_logit = max(max_logit, float(want.abs().max()))
        diff = (got - want).abs_()
        max_diff = max(max_diff, float(diff.max()))
        total_diff += float(diff.sum())
        values += diff.numel()
    exact = relative_bound is None
    bound = 0.0 if exact else relative_bound * max_logit
    steps = [len(s.tokens) if exact else decisive_steps(s.margins, max_diff) for s in source]
    prefixes = [common_prefix(s.tokens, e.tokens) for s, e in zip(source, exported, strict=True)]
    if exact:
        tokens_ok = all(s.tokens == e.tokens for s, e in zip(source, exported, strict=True))
    else:
        tokens_ok = all(prefix >= step for prefix, step in zip(prefixes, steps, strict=True))
    logits_ok = max_diff <= bound
    reason = "ok"
    if not logits_ok:
        reason = f"max |logit difference| {max_diff:.4g} exceeds the bound {bound:.4g}"
    elif not tokens_ok:
        reason = f"greedy tokens differ: common prefixes {prefixes}, required {steps}"
    return ParityReport(
        exact=exact,
        max_abs_diff=max_diff,
        mean_abs_diff=total_diff / values,
        max_abs_logit=max_logit,
        bound=bound,
        top1_agreement=agreeing / positions,
        tokens_source=[s.tokens for s in source],
        tokens_exported=[e.tokens for e in exported],
        decisive_steps=steps,
        passed=logits_ok and tokens_ok,
        reason=reason,
    )
