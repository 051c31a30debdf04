"""Run olmocr 0.4.27's own `generate_tests_from_html` and `html_to_markdown_with_frontmatter` on HTML pages.

Run as a script in a subprocess (the stand-ins below stay out of pytest):
    python original_synth.py tests CASES.json OUT.json
    python original_synth.py conversation REQUEST.json OUT.json CHROMIUM
CASES.json is a list of {"name", "html", "pdf_id", "page", "seed"}; OUT.json gets, per case, the original's
tests (its uuid4 ids included) and reference Markdown, or the exception it raised. The module imports an
Anthropic client and a language detector (lingua) that these two functions never call: stand-in modules take
their place, so neither has to be installed; a call into either would fail loudly.

`conversation` runs the original's `generate_html_from_image` on a page image with a recording client in the
Anthropic client's place (answering each request with REQUEST.json's fixed answers), Playwright launching the
system CHROMIUM for its render of the draft; OUT.json gets the final HTML, the requests as sent, and that
render's page count, page size and text.
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


class _Recorder:
    """The Anthropic client's `messages.create` and `messages.stream`, answering from fixed texts by step."""

    def __init__(self, answers: list[str]):
        self.answers, self.requests = list(answers), []
        self.messages = self

    def _reply(self, kwargs):
        self.requests.append(kwargs)
        text = self.answers.pop(0)
        usage = types.SimpleNamespace(input_tokens=1, output_tokens=1)
        return types.SimpleNamespace(content=[types.SimpleNamespace(type="text", text=text)], usage=usage,
                                     stop_reason="end_turn")  # fmt: skip

    async def create(self, **kwargs):
        return self._reply(kwargs)

    def stream(self, **kwargs):
        recorder = self

        class _Stream:
            async def __aenter__(self):
                self.message = recorder._reply(kwargs)
                return self

            async def __aexit__(self, *exc):
                return False

            def __aiter__(self):
                return self

            async def __anext__(self):
                raise StopAsyncIteration

            async def get_final_message(self):
                return self.message

        return _Stream()


def use_system_chromium(module, executable: str) -> None:
    """Playwright launches its own downloaded Chromium; point the original's renderer at the system's."""
    real = module.async_playwright

    class _Playwright:
        async def __aenter__(self):
            self.context = real()
            playwright = await self.context.__aenter__()
            launch = playwright.chromium.launch
            playwright.chromium.launch = lambda **kw: launch(executable_path=executable, **kw)
            return playwright

        async def __aexit__(self, *exc):
            return await self.context.__aexit__(*exc)

    module.async_playwright = _Playwright


def conversation(request_path: str, out_path: str, chromium: str) -> None:
    import asyncio
    import io
    import shutil

    import pypdf
    from olmocr.bench.synth import mine_html_templates as original

    use_system_chromium(original, chromium)
    rendered = f"{out_path}.render.pdf"
    to_png = original.render_pdf_to_base64png

    def keeping_the_render(path, *args, **kwargs):  # the draft's render, shown to the model, then deleted
        shutil.copy(path, rendered)
        return to_png(path, *args, **kwargs)

    original.render_pdf_to_base64png = keeping_the_render
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    recorder = _Recorder(request["answers"])
    html = asyncio.run(original.generate_html_from_image(recorder, request["image_base64"]))
    with open(rendered, "rb") as handle:
        pdf = pypdf.PdfReader(io.BytesIO(handle.read()))
    box = pdf.pages[0].mediabox
    render = {
        "pages": len(pdf.pages),
        "size": [float(box.width), float(box.height)],
        "text": pdf.pages[0].extract_text(),
    }
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump({"html": html, "requests": recorder.requests, "render": render}, handle)


def main() -> None:
    install_stand_ins()
    if sys.argv[1] == "conversation":
        conversation(*sys.argv[2:5])
        return
    cases_path, out_path = sys.argv[2], sys.argv[3]
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
