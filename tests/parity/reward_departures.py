"""Every intended difference between vlm_ocr's GRPO rewards and olmocr 0.4.27's, once; docs/grpo.md's table of
reward departures must equal it (README's "RL with unit-test rewards" section takes it over with the wiring)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DOCS_HEADING = "### Rewards: departures from the original"


@dataclass(frozen=True)
class RewardDeparture:
    key: str
    original: str
    vlm_ocr: str
    why: str
    component: str
    """The reward that differs on the departure's cases: unit_tests or front_matter."""

    def row(self) -> tuple[str, str, str, str]:
        return (f"`{self.key}`", self.original, self.vlm_ocr, self.why)


REWARD_DEPARTURES = (
    RewardDeparture(
        "tests-across-files",
        "a page whose tests sit in several JSONL files is scored on those of the first file only (its dataset "
        "keeps one file per page)",
        "scores every test of the page",
        "a test file is an organisation of the tests, not a choice of which count",
        "unit_tests",
    ),
    RewardDeparture(
        "newer-test-types",
        "`format` and `footnote` tests (added to olmOCR-Bench after 0.4.27) fail to load and are left out",
        "runs them, with the rest of the benchmark's current rules (vlm_ocr.bench)",
        "one scorer for the benchmark and the reward: a model is trained on what it is measured by",
        "unit_tests",
    ),
    RewardDeparture(
        "language-as-written",
        "reads `primary_language` with YAML types: `no`, `yes`, `on`, `off`, `true` become no language, "
        "a number fails the parse (reward 0)",
        "keeps the text as the language code",
        "`no` is Norwegian's ISO code; the SFT data is read the same way",
        "front_matter",
    ),
    RewardDeparture(
        "none-language",
        "`primary_language: None` (what the SFT target writes for a page without text) is the string "
        "`None`, unequal to a reference's `null`",
        "reads both as no language",
        "both spellings mean the same; the SFT pipeline reads them alike",
        "front_matter",
    ),
    RewardDeparture(
        "junk-boolean",
        "a boolean field holding no boolean (`is_table: maybe`) reads as False and can score its match",
        "the front matter does not parse: reward 0",
        "a malformed answer must not be rewarded as a valid one",
        "front_matter",
    ),
    RewardDeparture(
        "bom-crlf",
        "a completion starting with a UTF-8 BOM or written with CRLF line ends has no front matter (reward 0)",
        "reads it",
        "the encoding mark and line ends are not content; the SFT data is read the same way",
        "front_matter",
    ),
)
BY_KEY = {d.key: d for d in REWARD_DEPARTURES}


def docs_rows(doc: Path) -> list[tuple[str, ...]]:
    """The rows of the departure table under DOCS_HEADING, header and rule rows left out."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    start = lines.index(DOCS_HEADING)
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append(tuple(cell.strip() for cell in line.strip().split("|")[1:-1]))
    return table[2:]
