"""Bench folders for the GRPO tests, built from generated pages: pdfs/, tests.jsonl, claude_original/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vlm_ocr.pages.front_matter import read_page_markdown


def bench_from_pairs(pairs: Path, out: Path, words_per_page: int = 2, letters: tuple[str, ...] = ()) -> Path:
    """Every <stem>.pdf + <stem>.md pair under `pairs` as a bench page: `present` tests for the first words of its
    text (and for each of `letters`: tests a random model passes now and then) and a `baseline` test; the Markdown
    as its claude_original/ reference."""
    rows = []
    for md in sorted(pairs.rglob("*.md")):
        pdf = md.with_suffix(".pdf")
        if not pdf.is_file():
            continue
        name = f"{md.stem}.pdf"
        (out / "pdfs").mkdir(parents=True, exist_ok=True)
        shutil.copy(pdf, out / "pdfs" / name)
        reference = out / "claude_original" / f"{Path(name).stem}_pg1_repeat1.md"
        reference.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(md, reference)
        words = [w for w in (read_page_markdown(md).natural_text or "").split() if w.isalpha()][:words_per_page]
        rows += [
            {"pdf": name, "page": 1, "id": f"{name}_w{i}", "type": "present", "text": w} for i, w in enumerate(words)
        ]
        rows += [{"pdf": name, "page": 1, "id": f"{name}_{c}", "type": "present", "text": c} for c in letters]
        rows.append({"pdf": name, "page": 1, "id": f"{name}_base", "type": "baseline"})
    (out / "tests.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return out
