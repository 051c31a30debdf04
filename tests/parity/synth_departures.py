"""Every intended difference from olmocr 0.4.27's synthetic-page code, once; README's table must equal it."""

from __future__ import annotations

from dataclasses import dataclass

README_HEADING = "### Synthetic pages: departures from the original"


@dataclass(frozen=True)
class Departure:
    key: str
    original: str
    vlm_ocr: str
    why: str

    def row(self) -> tuple[str, str, str, str]:
        return (f"`{self.key}`", self.original, self.vlm_ocr, self.why)


DEPARTURES = (
    Departure(
        "test-ids",
        "ends each test id with 8 hex digits of a fresh uuid4: every run gives other ids",
        "the 8 hex digits are a hash of the test: the same HTML and seed give the same ids",
        "a resumed or repeated run writes the same test file, and a test can be followed across runs",
    ),
    Departure(
        "reference-passes",
        "keeps tests its own reference Markdown fails (an absent test on a page number that also stands in a "
        "table, since it looks for it in the text with the tables cut out)",
        "runs every test on the reference Markdown with the bench scorer; drops and counts those it fails",
        "a test the reference fails is a reward no answer can earn",
    ),
    Departure(
        "table-scorer",
        "checks table tests with its 0.4.27 scorer, whose grid shifts the cells after a colspan "
        "(`Eastfield`, under a two-column heading, has `Total votes` above it)",
        "checks them with vlm_ocr's scorer (olmOCR-Bench's current table rules), the one that scores them",
        "a test is checked by the rules it is scored by",
    ),
    Departure(
        "nested-header",
        'with the `<header>` inside a wrapper (`<body><div class="page"><header>`), removes every child of the '
        "body before looking for it: no header, footer or table test is made",
        "removes what comes before the header and after the footer at each level up to the body",
        "a chat model often wraps the whole page in a container",
    ),
    Departure(
        "ragged-table",
        "makes tests from a table whose rows differ in width after rowspan/colspan (padding rows with empty "
        "cells), and crashes on a span that is not a number",
        "rejects the page and counts it (`table N is not rectangular`)",
        "a cell's neighbours are not defined in a ragged table",
    ),
    Departure(
        "baseline-line",
        "writes no baseline test (the scorer adds one per PDF)",
        "writes that same baseline test into the test file (scores do not change)",
        "the RL data reads the test file: no empty page, no repetition loop is part of a page's reward",
    ),
    Departure(
        "present-tests",
        "writes no present test (its comment announces them)",
        "adds up to `--present-tests` (5) on sentences no order test uses, drawn after the original's draws "
        "(`--present-tests 0`: none)",
        "six order tests cover at most twelve sentences of a page",
    ),
    Departure(
        "language-quoting",
        "writes `primary_language: no` (YAML reads Norwegian as false)",
        "`primary_language: 'no'`, through the one front-matter writer",
        "the language survives every YAML reader",
    ),
)
RUN_DEPARTURES = (
    Departure(
        "page-size",
        "prints on Letter or A4 chosen by the image's aspect ratio (Letter for any other page), laid out at the "
        "paper's width (816 px on Letter, for a page the model was told is 792 px wide)",
        "prints at the source page's own size, laid out as wide as the viewport the model was told",
        "the render is the page that was rewritten, at the size it was rewritten for",
    ),
    Departure(
        "chat-protocol",
        "the Anthropic Messages API, `claude-sonnet-4-5-20250929` in the code, the refinement streamed with a "
        "12,000-token thinking budget",
        "any OpenAI-compatible endpoint (`--model`, `--base-url`): the same four requests, texts, images, "
        "temperatures and token limits; the thinking budget only with `--refine-thinking-tokens 12000`",
        "the model is the user's choice, and endpoints refuse a `thinking` field they do not know",
    ),
)
"""Departures of the conversation and the render, shown by test_the_conversation_and_the_render_are_the_originals."""
BY_KEY = {d.key: d for d in DEPARTURES}
