"""The equation checker of the text-rule filter: KaTeX in headless Chromium, or a clear error."""

from __future__ import annotations

from vlm_ocr.data.text_rules import MathChecker


class MathCheckUnavailable(RuntimeError):
    """The recipe's math check cannot run here; dropping every math page silently would bias the mix."""


def load_math_checker(kind: str) -> MathChecker:
    """Build the checker named in the config; raise MathCheckUnavailable with the fix when it cannot run."""
    if kind != "katex":
        raise ValueError(f"unknown math check {kind!r} (expected 'katex' or 'off')")
    try:
        from vlm_ocr.bench.katex import katex_equation_checker
    except ImportError as err:
        raise MathCheckUnavailable(f"the KaTeX math check is not available: {err}") from None
    checker = katex_equation_checker()
    if checker is None:
        raise MathCheckUnavailable(
            "TextRuleFilter(math_check=katex) needs Chromium for KaTeX (apt-get install chromium); "
            "install it or set math_check: off in the data transforms"
        )
    return checker
