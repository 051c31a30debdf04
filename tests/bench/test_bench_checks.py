import pytest

from vlm_ocr.bench.checks import ValidationError
from vlm_ocr.bench.loading import build_test
from vlm_ocr.bench.repeats import trailing_ngram_repeats


def make(type_, **fields):
    return build_test({"pdf": "doc.pdf", "page": 1, "id": "t1", "type": type_, **fields})


def passed(test, content):
    return test.run(content)[0]


# --- present / absent -------------------------------------------------------------------------------------------


def test_present_exact_and_normalised_match():
    test = make("present", text="Hello “world”")
    assert passed(test, 'intro **Hello** "world" outro')  # bold removed, curly quotes straightened
    assert not passed(test, "Hello word")


def test_present_case_sensitivity():
    assert not passed(make("present", text="HELLO"), "hello there")
    assert passed(make("present", text="HELLO", case_sensitive=False), "hello there")


def test_present_max_diffs_threshold():
    # query "abcdefghij" (10 chars), content has one substitution: partial_ratio = 90.
    content = "xx abcdefghXj yy"
    assert not passed(make("present", text="abcdefghij"), content)
    assert passed(make("present", text="abcdefghij", max_diffs=1), content)  # threshold 0.9 <= 0.9


def test_absent_is_plain_substring_without_word_boundaries():
    assert not passed(make("absent", text="max"), "the maximum value")
    assert passed(make("absent", text="max"), "the minimum value")


def test_short_content_inside_query_passes_present_quirk():
    # partial_ratio takes the shorter string as the needle, so a tiny output inside the query scores 100.
    assert passed(make("present", text="a long phrase"), "a")
    assert not passed(make("present", text="a long phrase"), "")  # empty content scores 0
    assert passed(make("absent", text="a long phrase"), "")


def test_absent_last_n_window_inside_longer_query_fails_quirk():
    # The 20-char tail occurs inside the (longer) query, so the absent test fails.
    query = "Journal of Things | Volume 8 | Issue 3"
    content = "Body text here. " + query[-20:]
    assert not passed(make("absent", text=query, last_n=20), content)


def test_first_n_and_last_n_windows():
    content = "HEADER " + "x" * 100 + " FOOTER"
    assert not passed(make("absent", text="HEADER", first_n=10), content)
    assert passed(make("absent", text="HEADER", last_n=10), content)
    assert not passed(make("absent", text="FOOTER", last_n=10), content)
    # first_n + last_n concatenate: "HEADER" + " FOOTER" spans the join.
    assert passed(make("present", text="HEADER FOOTER", first_n=6, last_n=7), content)
    # 0 means "not set": the whole content is searched.
    assert not passed(make("absent", text="FOOTER", first_n=0), content)


def test_present_threshold_le_zero_always_passes():
    assert passed(make("present", text="abc", max_diffs=3), "zzz")
    assert not passed(make("absent", text="abc", max_diffs=3), "zzz")


# --- order --------------------------------------------------------------------------------------------------------


def test_order_start_offsets():
    test = make("order", before="alpha", after="beta")
    assert passed(test, "alpha then beta")
    assert not passed(test, "beta then alpha")
    assert passed(test, "beta alpha beta")  # some before-match precedes some after-match
    assert not passed(test, "only alpha")


def test_order_overlap_allowed_and_case_sensitive():
    assert passed(make("order", before="abc", after="bcd"), "abcd")  # only starts are compared
    assert not passed(make("order", before="Alpha", after="beta"), "alpha beta")


def test_order_fuzzy_levenshtein():
    test = make("order", before="alpha", after="gamma", max_diffs=1)
    assert passed(test, "alpja ... gamma")  # one substitution
    assert not passed(test, "alxxa ... gamma")


def test_order_max_diffs_too_large_rejected():
    with pytest.raises(ValidationError, match="Max diffs is too large"):
        make("order", before="abcd", after="efghij", max_diffs=3)  # floor(4/2) = 2


# --- baseline -----------------------------------------------------------------------------------------------------


def test_baseline_empty_and_punctuation_only_fail():
    assert not passed(make("baseline"), "")
    assert not passed(make("baseline"), "--- ___ !!!")
    assert passed(make("baseline"), "x")


def test_baseline_repetition_limit():
    assert passed(make("baseline"), "a" * 30)
    assert not passed(make("baseline"), "a" * 31)
    assert not passed(make("baseline"), "ab" * 31)
    assert passed(make("baseline"), "a" * 31 + "\n")  # QUIRK: trailing newline defeats the check
    assert passed(make("baseline", max_repeats=40), "a" * 31)


def test_trailing_ngram_repeats_counts():
    assert trailing_ngram_repeats("xyzabab", 3) == [1, 2, 1]
    assert trailing_ngram_repeats("x a \n\n a", 2) == [1, 2]  # collapses to "x a a": " a" twice
    assert trailing_ngram_repeats("", 2) == [0, 0]


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("plain text", True),
        ("中文", False),
        ("ひらがな", False),
        ("カタカナ", False),
        ("smile \U0001f600", False),
        ("flag \U0001f1fa\U0001f1f8", False),
        ("한국어 Кириллица", True),  # Hangul and Cyrillic are allowed
    ],
)
def test_baseline_disallowed_characters(text, ok):
    assert passed(make("baseline"), text) is ok
    assert passed(make("baseline", check_disallowed_characters=False), text)


def test_baseline_blank_page_mode():
    assert passed(make("baseline", max_length=3), "ab1 !!")
    assert not passed(make("baseline", max_length=3), "abcd")
    assert passed(make("baseline", max_length=0), "")  # blank-page mode skips the non-empty check
    image = "![a long alt text](img.png)"
    assert not passed(make("baseline", max_length=3), image)
    assert passed(make("baseline", max_length=3, max_length_skips_image_alt_tags=True), image)


# --- format -------------------------------------------------------------------------------------------------------


def test_format_heading_bold_italic():
    content = "# Title Here\n\nSome **bold words** and *slanted* and <em>emph</em>\n<h2 class='x'>Sub\nHead</h2>"
    assert passed(make("format", text="Title Here", format="heading"), content)
    assert passed(make("format", text="Sub Head", format="heading"), content)
    assert not passed(make("format", text="bold words", format="heading"), content)
    assert passed(make("format", text="bold words", format="bold"), content)
    assert passed(make("format", text="slanted", format="italic"), content)
    assert passed(make("format", text="emph", format="italic"), content)
    assert not passed(make("format", text="BOLD WORDS", format="bold"), content)
    assert passed(make("format", text="BOLD WORDS", format="bold", case_sensitive=False), content)


def test_format_fragment_inside_query_passes():
    assert passed(make("format", text="Intro section", format="bold"), "**Intro** section")


def test_format_b_pattern_matches_br_quirk():
    assert passed(make("format", text="line", format="bold"), "first<br>line</b>")


def test_format_invalid_format_rejected():
    with pytest.raises(ValidationError):
        make("format", text="x", format="underline")


# --- footnote -----------------------------------------------------------------------------------------------------


def test_footnote_marker_forms():
    assert passed(make("footnote", marker="1"), "text[^1] more")
    assert not passed(make("footnote", marker="1"), "[^1]: the definition only")
    assert passed(make("footnote", marker="2"), "text<SUP class='n'>2</SUP>")
    assert passed(make("footnote", marker="12"), "text¹² more")
    assert passed(make("footnote", marker="1"), "text¹² more")  # substring of the superscript string
    assert passed(make("footnote", marker="*"), "text[^*]")
    assert not passed(make("footnote", marker="a"), "text<sup>b</sup>")


def test_footnote_before_and_after_texts():
    content = "The sky is blue.[^3] Light scatters.\n\n[^3]: Rayleigh scattering explains it."
    test = make("footnote", marker="3", appears_before_marker="sky is blue", appears_after_marker="Light scatters")
    assert passed(test, content)
    assert not passed(make("footnote", marker="3", appears_before_marker="grass is green"), content)
    # Each side may be satisfied at a different occurrence of the marker.
    two = "alpha[^1] zzz ... yyy[^1] omega"
    assert passed(make("footnote", marker="1", appears_before_marker="alpha", appears_after_marker="omega"), two)


def test_footnote_marker_with_space_rejected():
    with pytest.raises(ValidationError):
        make("footnote", marker="1 2")


# --- loading ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"type": "order", "before": "a b", "after": "c d", "case_sensitive": False}, TypeError),
        ({"type": "table", "cell": "x", "text": "y"}, TypeError),
        ({"type": "present", "text": "x", "source": "meta"}, TypeError),
        ({"type": "present"}, TypeError),
        ({"type": "present", "text": "x", "max_diffs": 2.0}, ValidationError),
        ({"type": "present", "text": "x", "max_diffs": -1}, ValidationError),
        ({"type": "present", "text": " ** "}, ValidationError),
        ({"type": "nonsense"}, ValidationError),
        ({"type": "math", "math": "  "}, ValidationError),
    ],
)
def test_invalid_definitions(fields, error):
    with pytest.raises(error):
        make(**{"type_": fields.pop("type"), **fields})


def test_checked_rejected_is_still_a_test():
    assert passed(make("present", text="x", checked="rejected"), "x")
