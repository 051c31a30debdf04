"""The `math` test: some delimited equation in the page renders like the reference LaTeX (spec §3.4)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from rapidfuzz import fuzz

from vlm_ocr.bench.checks import BenchTest, ValidationError, Verdict
from vlm_ocr.katex.compare import equations_match
from vlm_ocr.katex.equation import EquationRenderer

_BRACKETED = (re.compile(r"\\\((.+?)\\\)", re.DOTALL), re.compile(r"\\\[(.+?)\\\]", re.DOTALL))
_DOLLARS = (re.compile(r"\$\$(.+?)\$\$", re.DOTALL), re.compile(r"\$(.+?)\$", re.DOTALL))


class RendererUnavailable(RuntimeError):
    """A math test was run without a renderer; the runner reports such tests as not scored."""


def extract_equations(content: str, include_dollars: bool = True) -> list[str]:
    r"""Bodies of \(..\), \[..\], $$..$$, $..$ in that order, each pattern's matches removed before the next."""
    bodies: list[str] = []
    for pattern in _BRACKETED + (_DOLLARS if include_dollars else ()):
        bodies.extend(body.strip() for body in pattern.findall(content))
        content = pattern.sub("", content)
    return bodies


@dataclass(kw_only=True)
class MathTest(BenchTest):
    """Reference `math` (LaTeX without delimiters), compared via KaTeX renders."""

    math: str
    ignore_dollar_delimited: bool = False

    allowed_types: ClassVar[tuple[str, ...]] = ("math",)
    needs_renderer: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.math.strip():
            raise ValidationError("math cannot be empty")

    def _candidates(self, content: str) -> list[str] | None:
        """Equations to render, most similar first; None when one is string-identical to the reference."""
        bodies = extract_equations(content, include_dollars=not self.ignore_dollar_delimited)
        if self.math in bodies:
            return None
        return sorted(bodies, key=lambda body: -fuzz.ratio(body, self.math))  # stable, as upstream

    def render_requests(self, content: str) -> list[str]:
        bodies = self._candidates(content)
        return [self.math, *bodies] if bodies else []

    def run(self, content: str, renderer: EquationRenderer | None = None) -> Verdict:
        if renderer is None:
            raise RendererUnavailable(f"math test {self.id} needs a KaTeX renderer")
        bodies = self._candidates(content)
        if bodies is None:
            return True, ""
        if bodies:
            # A reference KaTeX rejects has no spans and so matches any body: upstream QUIRK, kept.
            reference, *renders = renderer.render_many([self.math, *bodies])
            if any(equations_match(reference, render) for render in renders):
                return True, ""
        return False, f"no equation matching {self.math[:60]!r} in the content"
