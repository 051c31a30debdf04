import pytest

from vlm_ocr.bench.normalize import normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a<br>b<br/>c", "a b c"),
        ("a<br />b<BR>c", "a<br />b<BR>c"),  # only the two exact lowercase forms
        ("**bold** and __strong__", "bold and strong"),
        ("<b>x</b> <i>y</i> <strong>z</strong> <em>w</em>", "x y <strong>z</strong> <em>w</em>"),
        ("<B>x</B>", "<B>x</B>"),
        ("*it* and _it_", "it and it"),
        ("foo_bar_baz", "foobarbaz"),  # QUIRK: non-formatting pairs are eaten
        ("__init__", "init"),
        ("2*3*4 = 24", "234 = 24"),  # arithmetic stars pair up too
        ("a * b * c", "a b c"),  # "a  b  c" after unwrapping, then whitespace collapses
        ("x_1", "x_1"),  # a lone delimiter survives
        ("a**b", "ab"),  # an empty pair disappears
        ("**a\nb**", "a b"),  # pairs do not cross lines, so the stars are left for the single-pair pass...
        ("  lead\t\n\u00a0trail  ", " lead trail "),  # whitespace runs collapse; no trimming
        ("e\u0301", "\u00e9"),  # NFC
        ("\ufb01", "\ufb01"),  # not NFKC: the ligature stays
        ("\u2018a\u2019 \u201cb\u201d \u201a \u201e", "'a' \"b\" ' \""),
        ("1\u20132\u20143\u20114\u20125\u22126\u20107", "1-2-3-4-5-6\u20107"),  # U+2010 is not replaced
        ("\u00b5m \uff3f", "\u03bcm _"),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_none():
    assert normalize_text(None) is None
