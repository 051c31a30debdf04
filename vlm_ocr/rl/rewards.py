"""The rewards of olmOCR 2's GRPO stage: the page's unit tests, its front matter and its end of turn, weighted.

Each equals olmocr 0.4.27's reward function of the same name on the same completion (`olmocr_bench_reward`,
`reward_front_matter`, `reward_eos` in `olmocr/train/grpo_train.py`; tests/parity checks them), except the
departures listed in docs/grpo.md. The tests are vlm_ocr.bench's (the benchmark scorer's checks and loading), run
on the raw completion, front matter included, as the original does. Importing this module loads no torch, so a
process pool's workers start light (vlm_ocr.rl.reward_pool).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vlm_ocr.bench.checks import BenchTest
from vlm_ocr.bench.training_pages import BenchPage
from vlm_ocr.errors import InputError
from vlm_ocr.katex.equation import EquationRenderer, RenderError
from vlm_ocr.katex.render import ChromiumKatexRenderer, find_renderer
from vlm_ocr.pages.front_matter import FRONT_MATTER_KEYS, FrontMatterError, parse_page_markdown

logger = logging.getLogger(__name__)

COMPONENTS = ("unit_tests", "front_matter", "end_of_turn")


@dataclass(frozen=True)
class RewardWeights:
    """How much each reward counts in the total (olmOCR 2's launch: 1.0 each); 0 leaves one out (not computed)."""

    unit_tests: float = 1.0
    """The share of the page's unit tests the completion passes (olmocr's `olmocr_bench_reward`)."""
    front_matter: float = 1.0
    """0.5 when the front matter parses, +0.1 per field equal to the reference's (`reward_front_matter`)."""
    end_of_turn: float = 1.0
    """1.0 when the completion's last token is the end-of-turn token (`reward_eos`)."""

    def __post_init__(self) -> None:
        if not any(getattr(self, name) for name in COMPONENTS):
            raise InputError("every reward weight is 0", "give at least one reward a non-zero weight")


@dataclass(frozen=True)
class Completion:
    """What a reward sees of one sampled answer."""

    text: str
    """The completion decoded without special tokens (as TRL passes it to reward functions)."""
    last_token_id: int | None
    """Its last token id (the end token when it stopped), None when it is empty."""


@dataclass(frozen=True)
class TestVerdict:
    test_id: str
    test_type: str
    passed: bool
    explanation: str = ""


@dataclass(frozen=True)
class Reward:
    """One completion's reward: the weighted total and what it is made of, for the logs."""

    total: float
    """Weighted sum of the components (a None component counts 0, as TRL's nansum; NaN when all are None)."""
    components: dict[str, float | None]
    """Each computed component by name (COMPONENTS); None where it could not be scored (a page without tests)."""
    verdicts: tuple[TestVerdict, ...] = field(default=())

    def by_test_type(self) -> dict[str, tuple[int, int]]:
        """(passed, run) per test type."""
        counts: dict[str, tuple[int, int]] = {}
        for verdict in self.verdicts:
            passed, run = counts.get(verdict.test_type, (0, 0))
            counts[verdict.test_type] = (passed + verdict.passed, run + 1)
        return counts


def front_matter_reward(text: str, reference: str | None) -> float:
    """0.0 when the completion's front matter does not parse, else 0.5 plus 0.1 per field equal to the reference's
    (a reference that does not parse adds nothing)."""
    try:
        answer = parse_page_markdown(text)
    except (FrontMatterError, TypeError, ValueError):
        return 0.0
    reward = 0.5
    if not reference:
        return reward
    try:
        expected = parse_page_markdown(reference)
    except (FrontMatterError, TypeError, ValueError):
        return reward
    for name in FRONT_MATTER_KEYS:
        if getattr(answer, name) == getattr(expected, name):
            reward += 0.1  # added one at a time, as the original (five matches: 0.9999999999999999)
    return reward


def end_of_turn_reward(last_token_id: int | None, eos_token_id: int) -> float:
    return 1.0 if last_token_id is not None and last_token_id == eos_token_id else 0.0


def unit_test_reward(verdicts: Sequence[TestVerdict]) -> float | None:
    """The share of tests passed; None without tests (the original's reward for a page it cannot test)."""
    return sum(v.passed for v in verdicts) / len(verdicts) if verdicts else None


def weighted_total(components: dict[str, float | None], weights: RewardWeights) -> float:
    values = [getattr(weights, name) * value for name, value in components.items() if value is not None]
    return math.fsum(values) if values else math.nan


class RewardScorer:
    """Scores the completions of one page; picklable (its renderer is rebuilt in each process).

    Args:
        weights: the weight of each reward.
        eos_token_id: the end-of-turn token the end-of-turn reward looks for.
        math_tests: `katex` renders math tests' equations with KaTeX in Chromium, as the benchmark; `skip` leaves
            math tests out of the unit-test reward.
        chromium: Chromium executable for math tests.
    """

    def __init__(
        self,
        weights: RewardWeights,
        eos_token_id: int,
        math_tests: Literal["katex", "skip"] = "katex",
        chromium: str = "chromium",
    ):
        self.weights = weights
        self.eos_token_id = eos_token_id
        self.math_tests = math_tests
        self.chromium = chromium
        self._renderer: EquationRenderer | None = None
        self._renderer_note = ""

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_renderer": None}

    def tests_of(self, page: BenchPage) -> tuple[BenchTest, ...]:
        """The tests the unit-test reward runs on the page."""
        if self.math_tests == "skip":
            return tuple(t for t in page.tests if not t.needs_renderer)
        return page.tests

    def check_pages(self, pages: Sequence[BenchPage]) -> None:
        """Fail before training when math tests would need a renderer that cannot start."""
        if self.weights.unit_tests and any(t.needs_renderer for p in pages for t in self.tests_of(p)):
            if self.renderer() is None:
                raise InputError(
                    f"the pages have math tests and {self._renderer_note}",
                    "install Chromium (apt-get install chromium) or set math_tests: skip",
                )

    def renderer(self) -> EquationRenderer | None:
        if self._renderer is None and not self._renderer_note:
            self._renderer, self._renderer_note = find_renderer(self.chromium)
        return self._renderer

    def group_renderer(self) -> EquationRenderer | None:
        """A renderer for one group: its cache holds that group's equations only (a run's would grow without
        bound), and threads scoring other groups never share it."""
        found = self.renderer()
        if isinstance(found, ChromiumKatexRenderer):
            return ChromiumKatexRenderer(found.chromium, found.katex_dir, found.batch_size, found.timeout_s)
        return found

    def score(self, page: BenchPage, completions: Sequence[Completion]) -> list[Reward]:
        """The reward of each completion of the page, in order."""
        tests = self.tests_of(page) if self.weights.unit_tests else ()
        renderer = self.group_renderer() if any(t.needs_renderer for t in tests) else None
        render_failure = self._prerender(tests, completions, renderer)
        rewards = []
        for completion in completions:
            verdicts = tuple(self._verdict(test, completion.text, renderer, render_failure) for test in tests)
            components: dict[str, float | None] = {}
            if self.weights.unit_tests:
                components["unit_tests"] = unit_test_reward(verdicts)
            if self.weights.front_matter:
                components["front_matter"] = front_matter_reward(completion.text, page.reference)
            if self.weights.end_of_turn:
                components["end_of_turn"] = end_of_turn_reward(completion.last_token_id, self.eos_token_id)
            rewards.append(Reward(weighted_total(components, self.weights), components, verdicts))
        return rewards

    def _prerender(
        self, tests: Sequence[BenchTest], completions: Sequence[Completion], renderer: EquationRenderer | None
    ) -> str:
        """Render every equation the math tests will compare, in one browser launch for the whole group."""
        latex = [
            eq for test in tests if test.needs_renderer for c in completions for eq in test.render_requests(c.text)
        ]
        if not latex:
            return ""
        if renderer is None:
            return f"math test not scored: {self._renderer_note}"
        try:
            renderer.render_many(list(dict.fromkeys(latex)))
        except RenderError as err:
            logger.warning("math rendering failed, the group's math tests count as failed: %s", err)
            return f"math rendering failed: {err}"
        return ""

    def _verdict(
        self, test: BenchTest, text: str, renderer: EquationRenderer | None, render_failure: str
    ) -> TestVerdict:
        if test.needs_renderer and (render_failure or renderer is None):
            return TestVerdict(test.id, test.type, False, render_failure or f"not scored: {self._renderer_note}")
        try:
            passed, why = test.run(text, renderer)
        except Exception as err:  # noqa: BLE001 - a test that crashes counts as failed, as in the original
            logger.debug("test %s crashed on a completion: %r", test.id, err)
            return TestVerdict(test.id, test.type, False, f"error: {err!r}")
        return TestVerdict(test.id, test.type, bool(passed), why)
