import torch

from vlm_ocr.export.parity import PageOutputs, compare


def page(logits, tokens, margins):
    return PageOutputs(torch.tensor(logits), tokens, margins)


SOURCE = page([[1.0, 3.0, -2.0], [0.5, 0.0, 4.0]], [7, 8, 9], [2.0, 0.01, 1.0])


def test_exact_mode_needs_identical_logits_and_tokens():
    assert compare([SOURCE], [page(SOURCE.logits.tolist(), [7, 8, 9], [])], None).passed
    nudged = compare([SOURCE], [page([[1.0, 3.0, -2.0], [0.5, 0.001, 4.0]], [7, 8, 9], [])], None)
    assert not nudged.passed and nudged.max_abs_diff > 0 and "exceeds the bound 0" in nudged.reason
    other_tokens = compare([SOURCE], [page(SOURCE.logits.tolist(), [7, 8, 1], [])], None)
    assert not other_tokens.passed and "greedy tokens differ" in other_tokens.reason


def test_bounded_mode_allows_divergence_only_after_a_near_tie():
    close = [[1.1, 3.0, -2.0], [0.5, 0.0, 3.9]]  # max diff 0.1; bound 0.1 * 4 = 0.4
    # step 1 has margin 0.01 <= 2 * 0.1: a flip there (and everything after it) is within the error
    report = compare([SOURCE], [page(close, [7, 5, 5], [])], 0.1)
    assert report.passed and report.decisive_steps == [1] and abs(report.max_abs_diff - 0.1) < 1e-6
    assert report.bound == 0.4 and report.top1_agreement == 1.0
    flipped_early = compare([SOURCE], [page(close, [6, 8, 9], [])], 0.1)
    assert not flipped_early.passed and "common prefixes [0], required [1]" in flipped_early.reason
    too_far = compare([SOURCE], [page([[1.0, 3.0, -2.0], [0.5, 0.0, 3.0]], [7, 8, 9], [])], 0.1)
    assert not too_far.passed and "exceeds the bound 0.4" in too_far.reason
