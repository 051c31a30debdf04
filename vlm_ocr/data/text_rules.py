"""olmOCR's text clean-up and text-rule filter (dataloader steps), with the original's defects fixed.

Fixes against the original (data_tools spec 14 and 16.5-16.6), keeping the recipe's intent:
- LaTeX commands match as whole commands (`\\to` no longer hits `\\top`, `\\today` or `C:\\tools`), and the
  `\\textbb` typo is `\\textbf` (an unconverted bold command is what the rule meant to catch);
- Unicode math symbols are looked for outside math spans and HTML tables, not inside `\\(...\\)`;
- a Markdown table needs a real separator row (`|---|:--:|`, leading pipe as in the original), so pipe rows
  holding dates do not count;
- nested HTML tables are checked as one outer table instead of being always rejected;
- math that cannot be checked is an error, never a silent drop of every math sample.
Everything else is the original's rule as its code runs it: LaTeX commands inside HTML tables count, a
`\\textbf{..}` nested in another `\\textbf{..}` stays as it is (and then breaks the rule). The parity suite
(tests/parity) checks each of these against olmocr itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

MATH_PATTERNS = (
    re.compile(r"\$\$(.+?)\$\$", re.DOTALL),
    re.compile(r"\\\((.+?)\\\)", re.DOTALL),
    re.compile(r"\\\[(.+?)\\\]", re.DOTALL),
)

MATH_SYMBOLS = frozenset(
    "\u2208\u2209\u2282\u2283\u2286\u2287\u2205\u222a\u2229\u2200\u2203\u00ac\u2295\u2297\u2299\u2202\u2207"
    "\u2206\u222b\u222c\u222d\u222e\u220f\u2211\u221a\u221b\u221c\u22a5\u2220\u2221\u22a4\u22a2\u22a3\u2234"
    "\u2235\u2236\u2237\u221d\u2245\u2246\u2247\u224a\u224b\u2296\u2298\u229a\u229b\u229c\u229d"
)

LATEX_COMMANDS = (
    r"\begin{itemize}",
    r"\begin{enumerate}",
    r"\item",
    r"\begin{figure}",
    r"\includegraphics",
    r"\caption",
    r"\label",
    r"\ref",
    r"\eqref",
    r"\begin{table}",
    r"\begin{tabular}",
    r"\textit",
    r"\textbf",
    r"\begin{equation}",
    r"\begin{align}",
    r"\frac",
    r"\sum",
    r"\int",
    r"\sqrt",
    r"\prod",
    r"\lim",
    r"\binom",
    r"\mathbb",
    r"\mathcal",
    r"\to",
    r"\varphi",
    r"\cdot",
    r"\langle",
    r"\rangle",
    r"\cite",
)
# A command ends where letters end: `\to` matches `\to ` and `\to{` but not `\top`.
_LATEX_COMMAND = re.compile(
    "|".join(re.escape(c) + (r"(?![A-Za-z])" if c[-1].isalpha() else "") for c in LATEX_COMMANDS)
)
_LATEX_TABLE_ENV = re.compile(r"\\begin\{(table|tabular)\}", re.IGNORECASE)
_TABLE_SEPARATOR = re.compile(r"^\|\s*:?-+:?\s*(\|\s*:?-+:?\s*)+\|?$")
_TABLE_TAG = re.compile(r"<table\b[^>]*>|</table\s*>", re.IGNORECASE)

MathChecker = Callable[[list[str]], "list[str | None]"]
"""Renders equations (one page's at a time); returns per equation None when it renders, else the error."""


def remove_math(text: str, placeholder: str = " ") -> str:
    for pattern in MATH_PATTERNS:
        text = pattern.sub(placeholder, text)
    return text


def math_spans(text: str) -> list[str]:
    """Every non-empty equation of the three delimiter kinds, each pattern run on the original text."""
    found = []
    for pattern in MATH_PATTERNS:
        found.extend(m.group(1).strip() for m in pattern.finditer(text))
    return [eq for eq in found if eq]


def _replace_command(text: str, command: str, marker: str) -> str:
    """Replace `\\command{...}` (brace-counted) by marker + content + marker; the content is kept as it is."""
    opening = f"\\{command}{{"
    out, pos = [], 0
    while (start := text.find(opening, pos)) != -1:
        depth, i = 1, start + len(opening)
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append(text[pos:start])
        if depth:  # no matching brace: keep the literal and scan on after it
            out.append(opening)
            pos = start + len(opening)
            continue
        inner = text[start + len(opening) : i - 1]
        out.append(f"{marker}{inner}{marker}")
        pos = i
    out.append(text[pos:])
    return "".join(out)


def reformat_latex_bold_italic(text: str) -> str:
    """Turn `\\textbf{..}` / `\\textit{..}` outside math into Markdown `**..**` / `*..*`."""
    protected: list[str] = []

    def protect(match: re.Match) -> str:
        protected.append(match.group(0))
        return f"\x00MATH{len(protected) - 1}\x00"

    for pattern in MATH_PATTERNS:
        text = pattern.sub(protect, text)
    text = _replace_command(text, "textbf", "**")
    text = _replace_command(text, "textit", "*")
    return re.sub(r"\x00MATH(\d+)\x00", lambda m: protected[int(m.group(1))], text)


def has_markdown_table(text: str) -> bool:
    lines = [line.strip() for line in text.split("\n")]
    for i, line in enumerate(lines):
        if line.startswith("|") and line.endswith("|") and line.count("|") >= 3:
            neighbours = lines[max(i - 1, 0) : i] + lines[i + 1 : i + 2]
            if any(_TABLE_SEPARATOR.match(n) for n in neighbours):
                return True
    return False


class _TagStack(HTMLParser):
    """Stack check of nesting: an end tag closes down to its opener; a stray end tag or leftover is invalid."""

    VOID = {"br", "hr", "img", "col", "wbr", "input", "meta", "link"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.valid = True

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if tag not in self.stack:
            self.valid = False
            return
        while self.stack.pop() != tag:
            pass


def outer_html_tables(text: str) -> list[str] | None:
    """The outermost `<table>...</table>` spans, or None when openings and closings do not balance."""
    spans, depth, start = [], 0, 0
    for match in _TABLE_TAG.finditer(text):
        if match.group(0)[1] != "/":
            if depth == 0:
                start = match.start()
            depth += 1
        else:
            depth -= 1
            if depth < 0:
                return None
            if depth == 0:
                spans.append(text[start : match.end()])
    return spans if depth == 0 else None


def html_tables_valid(text: str) -> bool:
    if "<table" not in text.lower():
        return True
    spans = outer_html_tables(text)
    if spans is None:
        return False
    for span in spans:
        parser = _TagStack()
        parser.feed(span)
        parser.close()
        if not parser.valid or parser.stack:
            return False
    return True


def text_rule_violation(text: str, math_checker: MathChecker | None) -> str | None:
    """The first rule `text` breaks, as a short reason, or None when the page is fit for training.

    Args:
        text: the page's natural text.
        math_checker: renders an equation (None: math is not checked).
    """
    if has_markdown_table(text):
        return "markdown table (tables must be HTML)"
    if not html_tables_valid(text):
        return "malformed HTML table"
    equations = math_spans(text)
    if math_checker is not None and equations:
        error = next((e for e in math_checker(equations) if e), None)
        if error:
            return f"equation does not render: {error}"
    without_math = remove_math(text)
    outside = without_math
    for table in outer_html_tables(text) or []:
        outside = outside.replace(remove_math(table), " ")
    symbol = next((ch for ch in outside if ch in MATH_SYMBOLS), None)
    if symbol is not None:
        return f"unicode math symbol {symbol!r} outside math and tables"
    command = _LATEX_COMMAND.search(without_math)
    if command is not None:
        return f"LaTeX command {command.group(0)!r} outside math"
    if _LATEX_TABLE_ENV.search(text):
        return "LaTeX table environment"
    return None
