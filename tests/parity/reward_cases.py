"""The reward parity cases: a generated bench folder (synthetic-page layout, every test type the original loads)
and crafted completions of its pages, plus completions of the real bench slice's pages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium

IM_END, END_OF_TEXT = 151645, 151643  # the Qwen2.5 tokenizer's <|im_end|> (its eos) and <|endoftext|>


@dataclass(frozen=True)
class RewardCase:
    key: str
    """`<pdf>::<page>` of the page it answers."""
    text: str
    ids: tuple[int, ...]
    """Its token ids as far as the rewards look: only the last one matters (reward_eos)."""
    departure: str | None = None


def front(language: str = "en", table: str = "False", diagram: str = "False", rotation: str = "0") -> str:
    return (
        f"---\nprimary_language: {language}\nis_rotation_valid: True\nrotation_correction: {rotation}\n"
        f"is_table: {table}\nis_diagram: {diagram}\n---\n"
    )


ALPHA = (
    "# Annual Report\n\nThe quick brown fox jumps over the lazy dog.\n\n"
    "Revenue grew by **12 percent** in 2023, while costs fell.\n\nPage 3 of 10"
)
BETA = (
    "Sales by year\n\n<table><tr><th>Year</th><th>Sales</th></tr><tr><td>2022</td><td>100</td></tr>"
    "<tr><td>2023</td><td>120</td></tr></table>"
)
BETA_MARKDOWN = "Sales by year\n\n| Year | Sales |\n|---|---|\n| 2022 | 100 |\n| 2023 | 120 |"
GAMMA = "The ratio is given by\n\n\\[\\frac{a}{b} + x^2 = y\\]\n\nand energy by \\(E = mc^2\\)."
REPORT_1 = "# Introduction\n\nThis report describes the survey method."
DELTA = "Alpha beta gamma.\n\nDelta epsilon zeta."
EPSILON = "## Results\n\nThe *final* score was high."

TESTS = {
    "a_synth.jsonl": [
        {"pdf": "synth/alpha_page1.pdf", "page": 1, "id": "alpha_present", "type": "present",
         "text": "The quick brown fox jumps over the lazy dog."},
        {"pdf": "synth/alpha_page1.pdf", "page": 1, "id": "alpha_fuzzy", "type": "present",
         "text": "quick brwn fox", "max_diffs": 1},
        {"pdf": "synth/alpha_page1.pdf", "page": 1, "id": "alpha_caseless", "type": "present",
         "text": "REVENUE GREW BY 12 PERCENT", "case_sensitive": False},
        {"pdf": "synth/alpha_page1.pdf", "page": 1, "id": "alpha_footer", "type": "absent", "text": "Page 3 of 10"},
        {"pdf": "synth/alpha_page1.pdf", "page": 1, "id": "alpha_order", "type": "order",
         "before": "Annual Report", "after": "Revenue grew"},
        {"pdf": "synth/alpha_page1.pdf", "page": 1, "id": "alpha_baseline", "type": "baseline"},
        {"pdf": "synth/beta_page1.pdf", "page": 1, "id": "beta_cell", "type": "table", "cell": "120",
         "up": "100", "left": "2023", "top_heading": "Sales"},
        {"pdf": "synth/beta_page1.pdf", "page": 1, "id": "beta_row", "type": "table", "cell": "2022", "right": "100"},
        {"pdf": "synth/beta_page1.pdf", "page": 1, "id": "beta_title", "type": "present", "text": "Sales by year"},
        {"pdf": "multi/report.pdf", "page": 1, "id": "report_intro", "type": "present", "text": "Introduction"},
        {"pdf": "multi/report.pdf", "page": 2, "id": "report_secret", "type": "absent", "text": "Confidential"},
        {"pdf": "multi/report.pdf", "page": 2, "id": "report_base", "type": "baseline"},
        {"pdf": "synth/zeta_page1.pdf", "page": 1, "id": "zeta_blank", "type": "baseline", "max_length": 5},
        {"pdf": "synth/delta_page1.pdf", "page": 1, "id": "delta_a", "type": "present", "text": "Alpha beta gamma."},
        {"pdf": "synth/epsilon_page1.pdf", "page": 1, "id": "epsilon_text", "type": "present", "text": "final score"},
        {"pdf": "synth/epsilon_page1.pdf", "page": 1, "id": "epsilon_heading", "type": "format", "text": "Results",
         "format": "heading"},
    ],
    "b_more.jsonl": [
        {"pdf": "synth/delta_page1.pdf", "page": 1, "id": "delta_b", "type": "present", "text": "Delta epsilon zeta."},
        {"pdf": "synth/delta_page1.pdf", "page": 1, "id": "delta_c", "type": "absent", "text": "omega"},
    ],
}  # fmt: skip
MATH_TESTS = [
    {"pdf": "synth/gamma_page1.pdf", "page": 1, "id": "gamma_ratio", "type": "math", "math": "\\frac{a}{b} + x^2 = y"},
    {"pdf": "synth/gamma_page1.pdf", "page": 1, "id": "gamma_energy", "type": "math", "math": "E = mc^2"},
    {"pdf": "synth/gamma_page1.pdf", "page": 1, "id": "gamma_text", "type": "present", "text": "The ratio is"},
]
PAGES = {"synth/alpha_page1.pdf": 1, "synth/beta_page1.pdf": 1, "synth/gamma_page1.pdf": 1, "multi/report.pdf": 2,
         "synth/zeta_page1.pdf": 1, "synth/delta_page1.pdf": 1, "synth/epsilon_page1.pdf": 1}  # fmt: skip
REFERENCES = {
    "synth/alpha_page1_pg1_repeat1.md": front() + ALPHA,
    "synth/beta_page1_pg1_repeat1.md": front(table="True") + BETA,
    "synth/gamma_page1_pg1_repeat1.md": front() + GAMMA,
    "multi/report_page1_pg1_repeat1.md": front() + REPORT_1,
    "synth/zeta_page1_pg1_repeat1.md": front(language="null").rstrip("\n"),
    "synth/delta_page1_pg1_repeat1.md": front(language="la") + DELTA,
    "synth/epsilon_page1_pg1_repeat1.md": front() + EPSILON,
}


def write_pdf(path: Path, pages: int) -> None:
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(612, 792)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(path)
    document.close()


def build_bench(root: Path, with_math: bool) -> Path:
    """The generated bench folder (math tests only when a browser can render them on both sides)."""
    for pdf, pages in PAGES.items():
        if with_math or "gamma" not in pdf:
            write_pdf(root / "pdfs" / pdf, pages)
    for name, rows in TESTS.items():
        rows = rows + (MATH_TESTS if with_math and name == "a_synth.jsonl" else [])
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for name, text in REFERENCES.items():
        if with_math or "gamma" not in name:
            (root / "claude_original" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "claude_original" / name).write_text(text, encoding="utf-8")
    return root


def build_bad_bench(root: Path) -> Path:
    """A folder with the bad input both sides can read: a test line with an unknown key, a test naming a missing
    PDF (a reference that does not parse would stop the original's process)."""
    write_pdf(root / "pdfs" / "good.pdf", 1)
    rows = [
        {"pdf": "good.pdf", "page": 1, "id": "g1", "type": "present", "text": "fine"},
        {"pdf": "good.pdf", "page": 1, "id": "g2", "type": "present", "text": "odd", "case": 1},
        {"pdf": "gone.pdf", "page": 1, "id": "m1", "type": "present", "text": "gone"},
    ]
    (root / "tests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def variants(key: str, answer: str, departure: str | None = None) -> list[RewardCase]:
    """The crafted completions every page gets: right, empty, without front matter, truncated (in the body and
    in the front matter), looping, with wrong fields, and ended by each kind of last token."""
    repeated = answer + "\n" + "and so on and so on " * 80
    body = answer.split("---\n", 2)[-1]
    texts_and_ids = [
        (answer, (11, IM_END)),
        (answer, (11, END_OF_TEXT)),
        ("", ()),
        (body, (11, IM_END)),
        (answer[: len(answer) * 2 // 3], (11, 12)),
        (answer[:40], (13,)),
        (repeated, (11, 12)),
        (front("de", table="True", diagram="True", rotation="90") + body, (IM_END,)),
    ]
    return [RewardCase(key, text, ids, departure) for text, ids in texts_and_ids]


def generated_cases(with_math: bool) -> list[RewardCase]:
    alpha, beta, zeta = "synth/alpha_page1.pdf::1", "synth/beta_page1.pdf::1", "synth/zeta_page1.pdf::1"
    cases = variants(alpha, front() + ALPHA) + variants(beta, front(table="True") + BETA)
    cases += variants("multi/report.pdf::1", front() + REPORT_1)
    cases += variants("multi/report.pdf::2", front() + "Confidential draft, do not share")
    cases += variants("synth/delta_page1.pdf::1", front(language="la") + DELTA, "tests-across-files")
    cases += variants("synth/epsilon_page1.pdf::1", front() + EPSILON, "newer-test-types")
    cases.append(
        RewardCase("synth/epsilon_page1.pdf::1", front() + EPSILON.lstrip("# "), (IM_END,), "newer-test-types")
    )
    cases += [
        RewardCase(beta, front(table="True") + BETA_MARKDOWN, (IM_END,)),
        RewardCase(alpha, front() + ALPHA.replace("**12 percent**", "12 percent"), (IM_END,)),
        RewardCase(alpha, front() + ALPHA.replace("Page 3 of 10", ""), (IM_END,)),
        RewardCase(
            alpha,
            front() + ALPHA.replace("\n\nPage 3 of 10", "").replace("# Annual Report\n\n", "") + "\n\n# Annual Report",
            (IM_END,),
        ),  # fmt: skip
        RewardCase(zeta, front(language="null").rstrip("\n"), (IM_END,)),
        RewardCase(zeta, front(language="null") + "Some stray words on a blank page", (IM_END,)),
        RewardCase(zeta, front(language="no"), (IM_END,), "language-as-written"),
        RewardCase(alpha, front(language="12") + ALPHA, (IM_END,), "language-as-written"),
        RewardCase(zeta, front(language="None"), (IM_END,), "none-language"),
        RewardCase(alpha, front(table="maybe") + ALPHA, (IM_END,), "junk-boolean"),
        RewardCase(alpha, "\ufeff" + front() + ALPHA, (IM_END,), "bom-crlf"),
        RewardCase(alpha, (front() + ALPHA).replace("\n", "\r\n"), (IM_END,), "bom-crlf"),
        RewardCase(alpha, front(table="'False'", rotation="'0'") + ALPHA, (IM_END,)),
        RewardCase(alpha, front(table="yes") + ALPHA, (IM_END,)),
        RewardCase(alpha, front(rotation="45") + ALPHA, (IM_END,)),
        RewardCase(alpha, front()[:-4] + "extra: 1\n---\n" + ALPHA, (IM_END,)),
        RewardCase(alpha, front().replace("is_diagram: False\n", "") + ALPHA, (IM_END,)),
    ]
    if with_math:
        gamma = "synth/gamma_page1.pdf::1"
        cases += variants(gamma, front() + GAMMA)
        cases += [
            RewardCase(gamma, front() + "The ratio is \\(\\frac a b + x^{2} = y\\) and $E=mc^{2}$.", (IM_END,)),
            RewardCase(gamma, front() + "The ratio is \\(a/b + x^2 = y\\) and \\[E = m c^3\\]", (IM_END,)),
        ]
    return cases


def real_cases(bench: Path) -> list[RewardCase]:
    """Completions of the real bench slice's pages: the olmOCR pipeline's own outputs, with and without a front
    matter, and the crafted variants of them."""
    cases = []
    for jsonl in sorted(bench.glob("*.jsonl")):
        pages = sorted({(row["pdf"], row["page"]) for row in map(json.loads, jsonl.read_text().splitlines())})
        for pdf, page in pages:
            output = next((bench / "olmocr_pipeline").glob(f"{pdf.removesuffix('.pdf')}_pg{page}_repeat*.md"))
            text = output.read_text(encoding="utf-8")
            cases.append(RewardCase(f"{pdf}::{page}", text, (IM_END,)))
            cases += variants(f"{pdf}::{page}", front() + text)
    return cases
