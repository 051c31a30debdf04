import pytest

from vlm_ocr.data.text_rules import reformat_latex_bold_italic, text_rule_violation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            r"\textbf{bold \textit{it}} and \(\textbf{x}\) and \textit{unclosed",
            r"**bold *it*** and \(\textbf{x}\) and \textit{unclosed",
        ),
        (r"\textbf{a {b} c} $$\textit{m}$$ \textbf{}", r"**a {b} c** $$\textit{m}$$ ****"),
        (r"x \textbf{ spaced } y", "x ** spaced ** y"),
        (r"\[\textit{a}\] \textit{b}", r"\[\textit{a}\] *b*"),
        # as the original: the content of a converted command is kept as it is (the inner \textbf then
        # breaks the rule filter's \textbf rule)
        (r"\textbf{a \textbf{b} c}", r"**a \textbf{b} c**"),
    ],
)
def test_reformat_bold_italic(text, expected):
    assert reformat_latex_bold_italic(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("| a | b |\n|---|:-:|\n| 1 | 2 |", "markdown table"),
        ("<table><tr><td>a</td></tr>", "malformed HTML table"),
        ("<table><tr><td>a</span></td></tr></table>", "malformed HTML table"),
        ("set x ∈ A here", "unicode math symbol"),
        (r"see \ref{fig1}", r"LaTeX command '\\ref'"),
        (r"a \to b", r"LaTeX command '\\to'"),
        (r"unconverted \textbf{bold", r"LaTeX command '\\textbf'"),
        (r"\BEGIN{TABULAR}", "LaTeX table environment"),
        # as the original: LaTeX commands count inside HTML tables too (only math is exempt)
        (r"<table><tr><td>see \cite{x}</td></tr></table>", r"LaTeX command '\\cite'"),
        (r"\textbf{a \textbf{b}}", r"LaTeX command '\\textbf'"),
    ],
)
def test_rules_that_drop(text, reason):
    assert reason in (text_rule_violation(text, None) or "")


@pytest.mark.parametrize(
    "text",
    [
        "Plain prose with a | pipe.",
        "| 2020-01 | b |\n| 2020-02 | c |",  # pipe rows with dates are not a Markdown table
        r"Path C:\tools and \today and \top",  # whole commands only
        r"\(x \in A \cdot y\) and \[\frac{1}{2}\]",  # LaTeX inside math is what we want
        r"\(x ∈ A\)",  # a symbol inside math is fine
        "<table><tr><td><table><tr><td>x</td></tr></table></td></tr></table>",  # nested tables
        "<table><tr><td>a<br>b</td></tr></table>",
        "| a | b |\n---|---\n| 1 | 2 |",  # as the original: a separator row starts with a pipe
        "Add a <tablespoon> of salt.",  # no table tag at all: nothing to validate
        r"empty math \(\) and $$$$",  # as the original: math needs at least one character
        "<table><tr><td>∈</td></tr></table>",  # as the original: symbols inside tables are fine
    ],
)
def test_rules_that_keep(text):
    assert text_rule_violation(text, None) is None


def test_math_checker_is_used_for_each_equation():
    seen = []

    def checker(equations):
        seen.extend(equations)
        return ["ParseError" if "bad" in eq else None for eq in equations]

    assert text_rule_violation(r"\(a+b\) and $$ c $$", checker) is None
    assert sorted(seen) == ["a+b", "c"]
    assert "does not render: ParseError" in text_rule_violation(r"\[bad\]", checker)
