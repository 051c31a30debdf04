import shutil

import pytest

from vlm_ocr.data.math_check import MathCheckUnavailable
from vlm_ocr.data.sample import DropSample
from vlm_ocr.data.transforms import TextRuleFilter
from vlm_ocr.pages.front_matter import PageResponse


def sample(text):
    return {"page_data": PageResponse("en", True, 0, False, False, text)}


def test_missing_chromium_is_a_loud_error_not_a_silent_drop(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    step = TextRuleFilter("katex")
    assert step(sample("no math here"))["page_data"].natural_text == "no math here"
    with pytest.raises(MathCheckUnavailable, match="install Chromium"):
        step(sample(r"Energy \(E = mc^2\)"))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed")
def test_katex_check_keeps_good_math_and_drops_broken_math():
    step = TextRuleFilter("katex")
    assert step(sample(r"Energy \(E = mc^2\) and \[\frac{a}{b}\]"))
    with pytest.raises(DropSample, match="equation does not render"):
        step(sample(r"Broken \(\frac{a}{\)"))
