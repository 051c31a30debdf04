import itertools
import shutil
import sys

import pytest

from vlm_ocr.bench.loading import build_test
from vlm_ocr.bench.math_checks import RendererUnavailable, extract_equations
from vlm_ocr.katex.compare import equations_match
from vlm_ocr.katex.equation import RenderedEquation, SpanBox
from vlm_ocr.katex.render import KATEX_DIR, KATEX_VERSION, find_renderer

needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")


def mathml(inner: str, tex: str = "t") -> str:
    return (
        '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block"><semantics>'
        f'{inner}<annotation encoding="application/x-tex">{tex}</annotation></semantics></math>'
    )


def glyphs(*items):
    """Spans from (text, x, y) with 10x10 boxes."""
    return tuple(SpanBox(text, x, y, 10.0 * len(text), 10.0) for text, x, y in items)


_unique = itertools.count()


def eq(*items):
    """A render whose MathML matches no other render, so comparisons go through the layout step."""
    return RenderedEquation(mathml=mathml(f"<mi>u{next(_unique)}</mi>"), spans=glyphs(*items))


class FakeRenderer:
    def __init__(self, renders=None, default=None):
        self.renders = renders or {}
        self.default = default
        self.calls = []

    def render_many(self, latex):
        self.calls.append(list(latex))
        return [self.renders.get(x, self.default) for x in latex]


def math_test(**fields):
    return build_test({"pdf": "d.pdf", "page": 1, "id": "m", "type": "math", **fields})


# --- extraction ---------------------------------------------------------------------------------------------------


def test_extraction_order_and_removal():
    content = r"$d$ then \(a\) and \[ b \] and $$c$$"
    assert extract_equations(content) == ["a", "b", "c", "d"]
    assert extract_equations(content, include_dollars=False) == ["a", "b"]
    assert extract_equations("$$x$$") == ["x"]  # $$..$$ is removed before $..$ runs
    assert extract_equations("costs $5 and $6 more") == ["5 and"]  # stray dollars pair up
    assert extract_equations("\\(multi\nline\\)") == ["multi\nline"]


# --- comparison ---------------------------------------------------------------------------------------------------


def test_mathml_containment_is_reference_in_hypothesis():
    small = RenderedEquation(mathml(r"<mi>x</mi>"), glyphs(("x", 0, 0)))
    big = RenderedEquation(mathml(r"<mi>x</mi><mo>+</mo><mi>y</mi>"), glyphs(("x", 0, 0), ("+", 10, 0), ("y", 20, 0)))
    assert equations_match(small, big)
    assert not equations_match(big, small)  # "+" has no candidate in the small render


def test_mathml_ignores_annotation_whitespace_and_zero_width():
    ref = RenderedEquation(mathml("<mi>x</mi>\n <mn>2</mn>", tex="x2"), glyphs(("q", 0, 0)))
    hyp = RenderedEquation(mathml("<mi>x\u2060</mi><mn>2</mn>", tex="other"), ())
    assert equations_match(ref, hyp)
    assert not equations_match(ref, RenderedEquation(mathml("<mi>y</mi>"), ()))


def test_layout_matching_left_right():
    ref = eq(("ab", 0, 0))  # one span, split into a at cx 5 and b at cx 15
    assert equations_match(ref, eq(("a", 0, 0), ("b", 10, 0)))
    assert equations_match(ref, eq(("a", 0, 0), ("b", 10, 0), ("c", 20, 0)))  # extra material is fine
    assert not equations_match(ref, eq(("b", 0, 0), ("a", 10, 0)))


def test_layout_matching_vertical_with_tolerance():
    frac = eq(("a", 0, 0), ("b", 0, 20))  # a above b
    assert equations_match(frac, eq(("a", 0, 0), ("b", 4, 20)))  # 4 px off: still aligned
    assert not equations_match(frac, eq(("a", 0, 0), ("b", 6, 20)))  # 6 px off: no down neighbour
    assert not equations_match(frac, eq(("a", 0, 0), ("b", 10, 0)))  # inline a b is not a fraction


def test_layout_matching_tries_other_candidates():
    ref = eq(("a", 0, 0), ("b", 10, 0))
    # The first hypothesis "a" has no right neighbour; the second one does.
    hyp = eq(("a", 100, 100), ("a", 0, 0), ("b", 10, 0))
    assert equations_match(ref, hyp)


def test_layout_matching_is_not_recursive(monkeypatch):
    monkeypatch.setattr(sys, "getrecursionlimit", sys.getrecursionlimit)
    sys.setrecursionlimit(200)
    try:
        row = eq(*[("x", 10 * i, 0) for i in range(300)])
        assert equations_match(row, row)
    finally:
        sys.setrecursionlimit(1000)


def test_empty_reference_spans_match_anything():
    assert equations_match(RenderedEquation("KaTeX parse error: bad", (), "bad"), eq(("z", 0, 0)))


# --- the math test ------------------------------------------------------------------------------------------------


def test_exact_body_passes_without_rendering():
    renderer = FakeRenderer()
    assert math_test(math="x^2").run(r"see $x^2$ here", renderer) == (True, "")
    assert renderer.calls == []


def test_reference_is_not_trimmed():
    renderer = FakeRenderer(default=eq(("q", 0, 0)))
    assert math_test(math=" x^2").run("$x^2$", renderer)[0]
    assert renderer.calls == [[" x^2", "x^2"]]


def test_bodies_rendered_most_similar_first():
    renderer = FakeRenderer(default=eq(("q", 0, 0)))
    math_test(math="a+b").run(r"$zzzz$ $a+c$ $a$", renderer)
    assert renderer.calls == [["a+b", "a+c", "a", "zzzz"]]


def test_math_pass_and_fail_through_renders():
    renders = {"ref": eq(("a", 0, 0), ("b", 0, 20)), "good": eq(("a", 0, 0), ("b", 0, 20)), "bad": eq(("a", 0, 0))}
    test = math_test(math="ref")
    assert test.run(r"\(bad\) \(good\)", FakeRenderer(renders))[0]
    assert not test.run(r"\(bad\)", FakeRenderer(renders))[0]
    assert not test.run("no equations", FakeRenderer(renders))[0]


def test_unrenderable_reference_passes_any_equation_quirk():
    renders = {r"\badmacro": RenderedEquation("KaTeX parse error", (), "KaTeX parse error")}
    renderer = FakeRenderer(renders, default=eq(("z", 0, 0)))
    test = math_test(math=r"\badmacro")
    assert test.run("$anything$", renderer)[0]
    assert not test.run("no delimited math", renderer)[0]


def test_math_without_renderer_is_not_run():
    with pytest.raises(RendererUnavailable):
        math_test(math="x").run("$y$", None)


def test_find_renderer_reports_why_not():
    assert find_renderer(None) == (None, "math rendering disabled")
    renderer, why = find_renderer("no-such-chromium-binary")
    assert renderer is None and "not found" in why


def test_find_renderer_needs_katex_files(tmp_path):
    renderer, why = find_renderer(sys.executable, katex_dir=tmp_path)  # any existing executable
    assert renderer is None and "katex.min.js" in why


# --- real KaTeX in Chromium: the behaviour pinned by upstream's unit tests --------------------------------------------

MATCHING = [
    ("a+b=c", "a + b = c"),
    ("a = b", r"\begin{align*} a &= b \\ c &= d \end{align*}"),
    (r"\frac{a}{b}", r"\displaystyle\frac{a}{b}"),
    (r"a\,b", r"a\:b"),
    (r"T_{ij}^{kl}", r"T^{kl}_{ij}"),
    (r"\lambda_g=\lambda_{g'}", r"\lambda_g=\lambda_{g^{\prime}}"),
    (r"x=1", r"x=1 \text{ for all } y"),
    (r"\begin{align*}a&=b\\c&=d\end{align*}", r"\begin{aligned}a&=b\\c&=d\end{aligned}"),
]
NOT_MATCHING = [
    (r"\frac{a}{b}", "a/b"),
    (r"[x]", r"\{x\}"),
    (r"\begin{pmatrix}a&b\\c&d\end{pmatrix}", r"\begin{bmatrix}a&b\\c&d\end{bmatrix}"),
    (r"\sin(\theta)", r"\sin\theta"),
    (r"x_{i,j}", r"x_{j,i}"),
    (r"\hat{x}", r"\widehat{x}"),
    (r"\bar{x}", r"\overline{\text{x}}"),
]


@pytest.fixture(scope="module")
def katex_renders():
    renderer, why = find_renderer("chromium")
    assert renderer is not None, why
    latex = [x for pair in MATCHING + NOT_MATCHING for x in pair] + [r"\badmacro{x}"]
    renders = dict(zip(latex, renderer.render_many(latex), strict=True))
    assert renderer.launches == 1
    return renders


@needs_chromium
@pytest.mark.parametrize(("ref", "hyp"), MATCHING)
def test_katex_pairs_that_match(katex_renders, ref, hyp):
    assert equations_match(katex_renders[ref], katex_renders[hyp])


@needs_chromium
@pytest.mark.parametrize(("ref", "hyp"), NOT_MATCHING)
def test_katex_pairs_that_do_not_match(katex_renders, ref, hyp):
    assert not equations_match(katex_renders[ref], katex_renders[hyp])


@needs_chromium
def test_katex_render_shapes(katex_renders):
    frac = katex_renders[r"\frac{a}{b}"]
    assert frac.error is None and "<mfrac>" in frac.mathml
    a, b = (next(s for s in frac.spans if s.text == t) for t in "ab")
    assert a.y < b.y  # numerator above denominator
    bad = katex_renders[r"\badmacro{x}"]
    assert bad.spans == () and bad.error.startswith("KaTeX parse error")


def test_vendored_katex_version():
    assert KATEX_VERSION == "0.16.21"
    assert f'version:"{KATEX_VERSION}"' in (KATEX_DIR / "katex.min.js").read_text(encoding="utf-8")
    assert (KATEX_DIR / "katex.min.css").read_text(encoding="utf-8").startswith("@font-face{font-family:KaTeX_AMS")
