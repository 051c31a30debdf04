"""Every intended sample-level difference from olmocr 0.4.27, once; README's departure table must equal it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

README_HEADING = "### Sample pipeline: departures from the original"


@dataclass(frozen=True)
class Departure:
    """An expected difference: what each side does with the sample, and why vlm_ocr differs."""

    key: str
    original: str
    vlm_ocr: str
    why: str
    observed: tuple[str, str, bool]
    """(original's status, vlm_ocr's status, same tokens) as the parity run sees it; statuses are kept,
    dropped (a step returned None / DropSample), crashed (the original raises: its loader dies) and
    absent (vlm_ocr's index lists the pair as bad input)."""
    runs: tuple[str, ...] = ("drop", "truncate")
    """The parity runs it shows in: `drop` (max_length 8192, overlong: drop), `truncate` (2000, truncate)."""

    def row(self) -> tuple[str, str, str, str]:
        return (f"`{self.key}`", self.original, self.vlm_ocr, self.why)


DEPARTURES = (
    Departure(
        "overlong-drop",
        "cuts the sequence at 8192 tokens: the answer loses its end and its end-of-turn token",
        "drops it and counts it (`data.overlong: drop`); "
        "`overlong: truncate` gives the original's cut, token for token",
        "training on a cut answer teaches the model to stop mid-page without its end token",
        ("kept", "dropped", False),
        runs=("drop",),
    ),
    Departure(
        "prompt-overlong",
        "with the prompt alone past the limit, keeps a sample with no answer token (all labels -100)",
        "drops it, also under `overlong: truncate`",
        "a sample without a single label trains nothing and wastes a step",
        ("kept", "dropped", False),
        runs=("truncate",),
    ),
    Departure(
        "bom",
        "a Markdown file starting with a UTF-8 BOM crashes the loader (front matter not found, missing-field error)",
        "reads it",
        "the BOM is an encoding mark, not content",
        ("crashed", "kept", False),
    ),
    Departure(
        "extra-keys",
        "a front-matter key beyond the five crashes the loader",
        "lists the pair as bad input and skips it (`data.allow_extra_keys: true` reads it)",
        "one odd file must not end a day-long run",
        ("crashed", "absent", False),
    ),
    Departure(
        "norwegian-no",
        "`primary_language: no` (also `yes`, `on`, `off`) is a YAML boolean: "
        "the language is lost, the target says `None`",
        "keeps the language code: the target says `no`",
        "`no` is Norwegian's ISO code",
        ("kept", "kept", False),
    ),
    Departure(
        "junk-boolean",
        "a boolean field holding no boolean (`is_table: maybe`) reads as False",
        "lists the pair as bad input and skips it",
        "a label nobody wrote must not become a training target",
        ("kept", "absent", False),
    ),
    Departure(
        "latex-whole-command",
        "drops pages where a LaTeX command is a prefix of another word (`\\to` in `\\top`, `\\today`, `C:\\tools`)",
        "matches whole commands only",
        "the rule targets LaTeX markup, not paths or longer commands",
        ("dropped", "kept", False),
    ),
    Departure(
        "textbf-rule",
        "keeps `\\textbf` left outside math (its list has the typo `\\textbb`), "
        "e.g. unclosed or nested in another `\\textbf`",
        "drops the page",
        "an unconverted bold command is what the rule was written to catch",
        ("kept", "dropped", False),
    ),
    Departure(
        "symbol-in-math",
        "drops pages with a Unicode math symbol anywhere, math included (`\\(x ∈ A\\)`)",
        "looks for the symbols outside math and HTML tables only",
        "the symbol rule guards against math written outside LaTeX; inside math it is correct",
        ("dropped", "kept", False),
    ),
    Departure(
        "pipe-rows-dates",
        "counts pipe-delimited rows as a Markdown table when a neighbouring one holds any hyphen (a date `2020-01`)",
        "requires a real separator row (cells of dashes and colons only)",
        "dates and ranges in pipe-delimited text are not tables",
        ("dropped", "kept", False),
    ),
    Departure(
        "nested-html-table",
        "always drops nested HTML tables (its non-greedy match cuts the outer table at the inner `</table>`)",
        "checks the outer table as one",
        "nested tables are valid HTML and occur in real documents",
        ("dropped", "kept", False),
    ),
)
BY_KEY = {d.key: d for d in DEPARTURES}


def readme_rows(readme: Path, heading: str = README_HEADING) -> list[tuple[str, ...]]:
    """The rows of README's departure table under `heading`, cells stripped, header and rule rows left out."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append(tuple(cell.strip() for cell in line.strip().split("|")[1:-1]))
    return [row for row in table[2:]]  # after the header and its |---| rule
