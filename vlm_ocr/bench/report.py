"""Bench scores: per-test outcomes aggregated into per-file (group) and per-type scores, printed and saved."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from vlm_ocr.bench.bootstrap import stratified_bootstrap_ci

Status = Literal["pass", "fail", "not_scored"]


@dataclass(frozen=True)
class Outcome:
    """One test on one candidate after the majority vote over repeats."""

    id: str
    type: str
    group: str
    """The JSONL file name the test came from, or "baseline" for automatic baseline tests."""
    pdf: str
    page: int
    status: Status
    repeats: int
    passes: int
    explanation: str = ""

    @property
    def frac(self) -> float:
        return self.passes / self.repeats if self.repeats else 0.0


@dataclass(frozen=True)
class GroupScore:
    name: str
    passed: int
    total: int
    """Scored tests only; not-scored tests are counted apart."""
    not_scored: int

    @property
    def score(self) -> float | None:
        return self.passed / self.total if self.total else None


@dataclass(frozen=True)
class TypeScore:
    type: str
    mean_frac: float | None
    """Mean fraction of passing repeats (not the binary verdict), as upstream's per-type breakdown."""
    count: int
    not_scored: int


@dataclass(frozen=True)
class BenchReport:
    """Everything `score_bench` found for one candidate."""

    candidate: str
    bench_dir: str
    overall: float | None
    """Unweighted mean of per-group pass rates; None if the candidate failed or nothing was scored."""
    ci: tuple[float, float]
    groups: list[GroupScore]
    types: list[TypeScore]
    outcomes: list[Outcome]
    errors: list[str] = field(default_factory=list)
    math_renderer: str = ""
    bootstrap_samples: int = 1000
    confidence_level: float = 0.95
    seed: int | None = 0

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def not_scored(self) -> int:
        return sum(o.status == "not_scored" for o in self.outcomes)

    @property
    def num_scored(self) -> int:
        return len(self.outcomes) - self.not_scored


def build_report(
    candidate: str,
    bench_dir: str,
    outcomes: list[Outcome],
    errors: list[str],
    *,
    math_renderer: str = "",
    bootstrap_samples: int = 1000,
    confidence_level: float = 0.95,
    seed: int | None = 0,
) -> BenchReport:
    """Aggregate outcomes; a candidate with errors gets no overall score and a (0, 0) interval, as upstream."""
    by_group: dict[str, list[Outcome]] = defaultdict(list)
    by_type: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_group[outcome.group].append(outcome)
        by_type[outcome.type].append(outcome)
    groups = [_group_score(name, items) for name, items in sorted(by_group.items())]
    types = [_type_score(name, items) for name, items in sorted(by_type.items())]
    scored_groups = [g for g in groups if g.total]
    overall, ci = None, (0.0, 0.0)
    if scored_groups and not errors:
        overall = sum(g.score for g in scored_groups) / len(scored_groups)  # type: ignore[misc]
        binary = [[float(o.status == "pass") for o in by_group[g.name] if o.status != "not_scored"] for g in groups]
        ci = stratified_bootstrap_ci(binary, bootstrap_samples, confidence_level, seed)
    return BenchReport(
        candidate=candidate,
        bench_dir=bench_dir,
        overall=overall,
        ci=ci,
        groups=groups,
        types=types,
        outcomes=outcomes,
        errors=errors,
        math_renderer=math_renderer,
        bootstrap_samples=bootstrap_samples,
        confidence_level=confidence_level,
        seed=seed,
    )


def _group_score(name: str, items: list[Outcome]) -> GroupScore:
    scored = [o for o in items if o.status != "not_scored"]
    passed = sum(o.status == "pass" for o in scored)
    return GroupScore(name=name, passed=passed, total=len(scored), not_scored=len(items) - len(scored))


def _type_score(name: str, items: list[Outcome]) -> TypeScore:
    scored = [o.frac for o in items if o.status != "not_scored"]
    mean = sum(scored) / len(scored) if scored else None
    return TypeScore(type=name, mean_frac=mean, count=len(scored), not_scored=len(items) - len(scored))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def format_report(report: BenchReport) -> str:
    """Human-readable summary in the shape of upstream's benchmark output."""
    lines = [f"Candidate: {report.candidate}  (bench: {report.bench_dir})"]
    lines += [f"  [ERROR] {e}" for e in report.errors]
    for o in report.outcomes:
        if o.status != "not_scored" and o.frac < 1.0:
            lines.append(
                f"  [FAIL] Test {o.id} on {o.pdf} page {o.page} average pass ratio: {o.frac:.3f} "
                f"({o.passes}/{o.repeats} repeats passed). Ex: {o.explanation or 'No explanation'}"
            )
    low, high = report.ci
    if report.failed:
        headline = "FAILED (errors)"
    else:
        headline = f"{_pct(report.overall)} ± {(high - low) / 2 * 100:.1f}%"
    lines.append(f"  Average Score: {headline} (average of per-JSONL scores)")
    if not report.failed:
        lines.append(
            f"  {report.confidence_level:.0%} CI: [{low * 100:.1f}%, {high * 100:.1f}%] over {report.num_scored} tests"
        )
    if report.not_scored:
        lines.append(f"  NOT SCORED: {report.not_scored} tests ({report.math_renderer})")
    lines.append("  By test type:")
    for t in report.types:
        extra = f", {t.not_scored} not scored" if t.not_scored else ""
        lines.append(f"    {t.type:8s}: {_pct(t.mean_frac)} average pass rate over {t.count} tests{extra}")
    lines.append("  By JSONL file:")
    for g in report.groups:
        extra = f", {g.not_scored} not scored" if g.not_scored else ""
        lines.append(f"    {g.name:30s}: {_pct(g.score)} ({g.passed}/{g.total} tests{extra})")
    return "\n".join(lines) + "\n"


def report_to_dict(report: BenchReport) -> dict:
    """JSON-ready dict: all fields plus derived scores."""
    data = asdict(report)
    data.update(failed=report.failed, not_scored=report.not_scored, num_scored=report.num_scored)
    for row, group in zip(data["groups"], report.groups, strict=True):
        row["score"] = group.score
    for row, outcome in zip(data["outcomes"], report.outcomes, strict=True):
        row["frac"] = outcome.frac
    return data


def write_report(report: BenchReport, out: Path | None = None, stream: TextIO | None = None) -> None:
    """Print the summary to `stream` (stdout by default) and, if `out` is given, save the full report as JSON."""
    (stream or sys.stdout).write(format_report(report))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
