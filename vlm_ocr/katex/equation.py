"""Rendered-equation data types and the renderer interface the math test depends on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SpanBox:
    """A leaf KaTeX span: its trimmed text and its bounding client rect in CSS pixels."""

    text: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class RenderedEquation:
    """KaTeX output for one LaTeX string; on a KaTeX error, mathml holds the message and spans is empty."""

    mathml: str
    spans: tuple[SpanBox, ...] = field(default_factory=tuple)
    error: str | None = None


class RenderError(RuntimeError):
    """The renderer itself failed (browser crash, timeout, unreadable output); not a KaTeX parse error."""


class EquationRenderer(Protocol):
    """Renders LaTeX strings in display mode; results are aligned with the input order."""

    def render_many(self, latex: Sequence[str]) -> list[RenderedEquation]: ...
