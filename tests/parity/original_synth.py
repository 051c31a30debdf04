"""Run olmocr 0.4.27's own `generate_tests_from_html` and `html_to_markdown_with_frontmatter` on HTML pages.

Run as a script in a subprocess (the stand-ins below stay out of pytest):
    python original_synth.py CASES.json OUT.json
CASES.json is a list of {"name", "html", "pdf_id", "page", "seed"}; OUT.json gets, per case, the original's
tests (its uuid4 ids included) and reference Markdown, or the exception it raised. The module imports an
Anthropic client and a language detector (lingua) that these two functions never call: stand-in modules take
their place, so neither has to be installed; a call into either would fail loudly.
"""

from __future__ import annotations

import json
import random
import sys
import traceback
import types


class _NotInstalled:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("a stand-in for a module the compared functions never use was called")


def install_stand_ins() -> None:
    anthropic = types.ModuleType("anthropic")
    anthropic.AsyncAnthropic = _NotInstalled
    lingua = types.ModuleType("lingua")
    lingua.Language = types.SimpleNamespace(ENGLISH="ENGLISH")
    lingua.LanguageDetectorBuilder = _NotInstalled
    sys.modules.setdefault("anthropic", anthropic)
    sys.modules.setdefault("lingua", lingua)


def main() -> None:
    cases_path, out_path = sys.argv[1], sys.argv[2]
    install_stand_ins()
    from olmocr.bench.synth.mine_html_templates import generate_tests_from_html, html_to_markdown_with_frontmatter

    results = {}
    with open(cases_path, encoding="utf-8") as handle:
        cases = json.load(handle)
    for case in cases:
        try:
            tests = generate_tests_from_html(case["html"], case["pdf_id"], case["page"], random.Random(case["seed"]))
            markdown = html_to_markdown_with_frontmatter(case["html"])
            results[case["name"]] = {"tests": tests, "markdown": markdown}
        except Exception as err:  # the original has no drop path: a page it cannot handle raises
            results[case["name"]] = {"error": traceback.format_exception_only(type(err), err)[-1].strip()}
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
