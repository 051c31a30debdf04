"""The equation checker of the text-rule filter: KaTeX in headless Chromium, or a clear error."""

from __future__ import annotations

from vlm_ocr.data.text_rules import MathChecker


class MathCheckUnavailable(RuntimeError):
    """The recipe's math check cannot run here; dropping every math page silently would bias the mix."""


def load_math_checker(kind: str) -> MathChecker:
    """Build the checker named in the config; raise MathCheckUnavailable with the fix when it cannot run."""
    if kind != "katex":
        raise ValueError(f"unknown math check {kind!r} (expected 'katex' or 'off')")
    from vlm_ocr.katex.render import find_renderer

    renderer, why = find_renderer()
    if renderer is None:
        raise MathCheckUnavailable(
            f"TextRuleFilter(math_check=katex) cannot render equations ({why}): install Chromium "
            "(apt-get install chromium) or set math_check: off in data.text_filters"
        )

    def check(equations: list[str]) -> list[str | None]:
        return [rendered.error for rendered in renderer.render_many(equations)]

    return check
