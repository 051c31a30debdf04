import random

import pytest
from torchmetrics.functional.text import bleu_score, char_error_rate, word_error_rate

from vlm_ocr.eval.metrics import (
    DatasetScores,
    bleu,
    character_error_rate,
    is_repetitive,
    normalized_edit_distance,
    read_markdown,
    score_page,
)
from vlm_ocr.eval.metrics import word_error_rate as our_wer
from vlm_ocr.pages.front_matter import PageResponse, format_page_markdown

REFERENCE = format_page_markdown(PageResponse("en", True, 0, False, False, "the cat sat on the mat"))


def page(text, language="en", table=False):
    return format_page_markdown(PageResponse(language, True, 0, table, False, text), null_language="None")


def test_text_metrics_on_hand_made_examples():
    assert character_error_rate("abed", "abcd") == 0.25
    assert our_wer("the cat sat on a mat", "the cat sat on the mat") == pytest.approx(1 / 6)
    assert normalized_edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalized_edit_distance("abc", "abc") == 0.0
    # clipped n-gram precisions 5/6, 3/5, 2/4, 1/3 and no brevity penalty: (1/12) ** (1/4)
    assert bleu("the cat sat on a mat", "the cat sat on the mat") == pytest.approx((1 / 12) ** 0.25, abs=1e-6)
    assert bleu("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)


def test_empty_texts_follow_the_documented_conventions():
    assert character_error_rate("", "") == 0.0 and character_error_rate("x", "") == 1.0
    assert our_wer("", "") == 0.0 and our_wer("a b", "") == 1.0
    assert normalized_edit_distance("", "") == 0.0 and normalized_edit_distance("ab", "") == 1.0
    assert bleu("", "") == 1.0 and bleu("", "a b c d") == 0.0


def test_edit_distances_equal_torchmetrics():
    rng = random.Random(0)
    for _ in range(20):
        ref = " ".join("".join(rng.choice("abcde") for _ in range(rng.randint(1, 4))) for _ in range(12))
        pred = "".join(c if rng.random() > 0.15 else rng.choice("abx ") for c in ref)
        assert character_error_rate(pred, ref) == pytest.approx(float(char_error_rate([pred], [ref])), rel=1e-6)
        assert our_wer(pred, ref) == pytest.approx(float(word_error_rate([pred], [ref])), rel=1e-6)
        assert bleu(pred, ref) == pytest.approx(float(bleu_score([pred], [[ref]])), abs=1e-6)


def test_text_metrics_compare_bodies_without_front_matter():
    score = score_page(page("the cat sat on a mat"), page("the cat sat on the mat"), "stop")
    assert score.cer == pytest.approx(3 / 22)  # "a" for "the": 1 substitution + 2 deletions
    assert score.front_matter_parsed and score.front_matter_accuracy == 1.0 and score.stopped is True


def test_front_matter_accuracy_with_a_wrong_field_and_a_broken_prediction():
    reference = page("Some text here.")
    wrong_table = page("Some text here.", table=True)
    broken = "---\nprimary_language: en\n---\nSome text here."  # lacks four keys
    assert read_markdown(broken) == (None, "Some text here.")
    assert read_markdown("no front matter at all") == (None, "no front matter at all")
    assert score_page(wrong_table, reference).fields["is_table"] is False
    assert score_page(wrong_table, reference).front_matter_accuracy == pytest.approx(4 / 5)
    failed = score_page(broken, reference, "length")
    assert not failed.front_matter_parsed and failed.front_matter_accuracy == 0.0
    assert failed.cer == 0.0 and failed.stopped is False  # the body is still scored

    scores = DatasetScores()
    for prediction, finish in ((reference, "stop"), (wrong_table, "stop"), (broken, "length")):
        scores.update(prediction, reference, finish)
    summary = scores.compute()
    assert summary["front_matter_accuracy"] == pytest.approx(9 / 15)
    assert summary["is_table_accuracy"] == pytest.approx(1 / 3)
    assert summary["primary_language_accuracy"] == pytest.approx(2 / 3)
    assert summary["front_matter_parse_failure_rate"] == pytest.approx(1 / 3)
    assert summary["stop_share"] == pytest.approx(2 / 3)
    assert summary["cer"] == 0.0 and summary["repetition_rate"] == 0.0


def test_dataset_cer_and_wer_are_corpus_rates_and_ned_a_page_mean():
    scores = DatasetScores()
    scores.update(page("abed"), page("abcd"))
    scores.update(page("xyz"), page("xy"))
    summary = scores.compute()
    assert summary["cer"] == pytest.approx(2 / 6)  # not the page mean (0.25 + 0.5) / 2
    assert summary["wer"] == pytest.approx(2 / 2)
    assert summary["ned"] == pytest.approx((1 / 4 + 1 / 3) / 2)
    assert "stop_share" not in summary  # no finish reasons given


def test_blank_page_predicted_blank_is_perfect():
    blank = page(None)
    score = score_page(blank, blank, "stop")
    assert (score.cer, score.wer, score.ned, score.bleu) == (0.0, 0.0, 0.0, 1.0)
    scores = DatasetScores()
    scores.update(blank, blank, "stop")
    assert scores.compute()["bleu"] == 1.0


def test_corpus_bleu_is_zero_when_every_generation_is_empty():
    scores = DatasetScores()
    scores.update("", page("the cat sat on the mat"), "length")
    scores.update("", page(None), "length")
    assert scores.compute()["bleu"] == 0.0
    scores.update(page("the cat sat on the mat"), page("the cat sat on the mat"), "stop")
    assert 0.0 < scores.compute()["bleu"] <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "Intro paragraph.\n" + "| row | value |\n" * 20,  # a repeated line
        ("Heading\n\n" + "the model reads the page " * 30)[:-7],  # cut at max_new_tokens mid-unit
        "Total: " + "=" * 120,  # one character
        "A" * 100,  # exactly min_chars
        "Start. " + "This whole sentence keeps coming back again and again and again. " * 6,
    ],
)
def test_repetition_detector_flags_trailing_loops(text):
    assert is_repetitive(text)


@pytest.mark.parametrize(
    "text",
    [
        "An ordinary page.\n\nWith two paragraphs of text that do not repeat themselves at all.",
        "Signature: " + "_" * 40,  # a short run stays under min_chars
        "line\nline\nline\n",  # three short lines: under min_chars
        "| a | b |\n|---|---|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(40)),  # distinct rows
        "loop " * 40 + "and then the text goes on normally until the end of the page, as it should.",
        "",
    ],
)
def test_repetition_detector_passes_normal_text(text):
    assert not is_repetitive(text)
