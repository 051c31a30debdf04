"""The reward components (unit tests, front matter, end of turn), their weighting, and math tests' renderer."""

import pickle
import shutil

import pytest

from vlm_ocr.bench.checks import PresenceTest
from vlm_ocr.bench.loading import build_test
from vlm_ocr.bench.training_pages import BenchPage
from vlm_ocr.errors import InputError
from vlm_ocr.katex.render import ChromiumKatexRenderer
from vlm_ocr.rl.rewards import (
    Completion,
    RewardScorer,
    RewardWeights,
    end_of_turn_reward,
    front_matter_reward,
)

EOS = 151645
PERFECT = 0.5 + 0.1 + 0.1 + 0.1 + 0.1 + 0.1  # 0.9999999999999999, as the original adds it up
FRONT = (
    "---\nprimary_language: en\nis_rotation_valid: True\nrotation_correction: 0\n"
    "is_table: False\nis_diagram: False\n---\n"
)


def page(*tests, reference=FRONT + "Hello world"):
    built = tuple(build_test({"pdf": "doc.pdf", "page": 1, "id": f"t{i}", **t}) for i, t in enumerate(tests))
    return BenchPage("doc.pdf", 1, None, built, reference)


def test_front_matter_reward_is_half_for_parsing_and_a_tenth_per_matching_field():
    assert front_matter_reward("", FRONT) == 0.0
    assert front_matter_reward("Hello world", FRONT) == 0.0  # no front matter
    assert front_matter_reward(FRONT[:50], FRONT) == 0.0  # cut inside it
    assert front_matter_reward(FRONT + "text", None) == 0.5  # no reference to compare with
    assert front_matter_reward(FRONT + "text", "not a reference") == 0.5
    assert front_matter_reward(FRONT + "text", FRONT + "other text") == PERFECT
    two_wrong = FRONT.replace("en", "de").replace("is_table: False", "is_table: True")
    assert front_matter_reward(two_wrong, FRONT) == 0.5 + 0.1 + 0.1 + 0.1


def test_end_of_turn_reward_looks_at_the_last_token_only():
    assert end_of_turn_reward(EOS, EOS) == 1.0
    assert end_of_turn_reward(151643, EOS) == 0.0  # <|endoftext|> is not the end of the turn
    assert end_of_turn_reward(None, EOS) == 0.0


def test_the_total_is_the_weighted_sum_and_each_test_has_a_verdict():
    tests = ({"type": "present", "text": "Hello world"}, {"type": "absent", "text": "Footer"}, {"type": "baseline"})
    scorer = RewardScorer(RewardWeights(unit_tests=2.0, front_matter=1.0, end_of_turn=0.5), EOS)
    good, bad = scorer.score(page(*tests), [Completion(FRONT + "Hello world", EOS), Completion("Footer", 11)])
    assert good.components == {"unit_tests": 1.0, "front_matter": PERFECT, "end_of_turn": 1.0}
    assert good.total == pytest.approx(2.0 + PERFECT + 0.5)
    assert bad.components == {"unit_tests": 1 / 3, "front_matter": 0.0, "end_of_turn": 0.0}
    assert bad.by_test_type() == {"present": (0, 1), "absent": (0, 1), "baseline": (1, 1)}
    assert [v.passed for v in bad.verdicts] == [False, False, True] and "Footer" in bad.verdicts[1].explanation


def test_a_zero_weight_leaves_its_reward_out_and_all_zero_is_refused():
    scorer = RewardScorer(RewardWeights(unit_tests=0.0, end_of_turn=0.0), EOS)
    (reward,) = scorer.score(page({"type": "present", "text": "x"}), [Completion(FRONT, EOS)])
    assert reward.components == {"front_matter": PERFECT} and reward.verdicts == ()
    with pytest.raises(InputError, match="every reward weight is 0"):
        RewardWeights(0.0, 0.0, 0.0)


class CrashingTest(PresenceTest):
    def run(self, content, renderer=None):
        raise RuntimeError("boom")


def test_a_test_that_crashes_counts_as_failed():
    crash = CrashingTest(pdf="doc.pdf", page=1, id="c", type="present", text="x")
    bench_page = BenchPage("doc.pdf", 1, None, (crash, *page({"type": "baseline"}).tests), None)
    (reward,) = RewardScorer(RewardWeights(), EOS).score(bench_page, [Completion("some text", EOS)])
    assert reward.components["unit_tests"] == 0.5 and "boom" in reward.verdicts[0].explanation


def test_math_tests_need_a_browser_or_an_explicit_skip():
    math_page = page({"type": "math", "math": "x^2"}, {"type": "present", "text": "Hello"})
    scorer = RewardScorer(RewardWeights(), EOS, chromium="no-such-chromium")
    with pytest.raises(InputError, match="math tests and chromium executable 'no-such-chromium' not found"):
        scorer.check_pages([math_page])
    skipping = RewardScorer(RewardWeights(), EOS, math_tests="skip", chromium="no-such-chromium")
    skipping.check_pages([math_page])
    (reward,) = skipping.score(math_page, [Completion("Hello \\(x^2\\)", EOS)])
    assert [v.test_type for v in reward.verdicts] == ["present"] and reward.components["unit_tests"] == 1.0


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")
def test_math_tests_of_a_group_render_in_one_browser_launch(monkeypatch):
    launches = []
    render_batch = ChromiumKatexRenderer._render_batch
    monkeypatch.setattr(
        ChromiumKatexRenderer, "_render_batch", lambda self, b: launches.append(b) or render_batch(self, b)
    )
    math_page = page({"type": "math", "math": "\\frac{a}{b}"})
    scorer = RewardScorer(RewardWeights(front_matter=0.0, end_of_turn=0.0), EOS)
    scorer.check_pages([math_page])
    completions = ["\\(\\frac a b\\)", "\\(a/b\\)", "$\\frac{a}{b}$ exactly", "no math"]
    rewards = scorer.score(math_page, [Completion(text, EOS) for text in completions])
    assert [r.components["unit_tests"] for r in rewards] == [1.0, 0.0, 1.0, 0.0]
    assert len(launches) == 1 and sorted(launches[0]) == ["\\frac a b", "\\frac{a}{b}", "a/b"]
    scorer.score(math_page, [Completion(completions[0], EOS)])
    assert len(launches) == 2  # each group renders with a renderer of its own: no cache grows over a run
    copy = pickle.loads(pickle.dumps(scorer))  # for process pools: the browser handle stays behind
    assert copy._renderer is None and copy.weights == scorer.weights
