"""Sample-level pipeline steps of the olmOCR recipe, in recipe order (configured as a list in YAML)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from PIL import Image

from vlm_ocr.data.math_check import load_math_checker
from vlm_ocr.data.render_cache import RenderCache
from vlm_ocr.data.sample import DropSample, Sample
from vlm_ocr.data.text_rules import reformat_latex_bold_italic, text_rule_violation
from vlm_ocr.pages.front_matter import FrontMatterError, format_page_markdown, read_page_markdown
from vlm_ocr.pages.pdf import PdfError, RenderSpec, render_page
from vlm_ocr.pages.prompts import build_no_anchoring_v4_yaml_prompt, build_no_anchoring_yaml_prompt

PROMPTS = {"v4_yaml": build_no_anchoring_v4_yaml_prompt, "yaml": build_no_anchoring_yaml_prompt}


class ParseFrontMatter:
    """Read the Markdown file into `page` (a PageResponse).

    Args:
        allow_extra_keys: accept front-matter keys beyond the five known ones (they are ignored).
    """

    def __init__(self, allow_extra_keys: bool = False):
        self.allow_extra_keys = allow_extra_keys

    def __call__(self, sample: Sample) -> Sample:
        try:
            page = read_page_markdown(sample["markdown_path"], allow_extra_keys=self.allow_extra_keys)
        except (FrontMatterError, OSError) as err:
            raise DropSample(str(err)) from None
        return {**sample, "page_data": page}


class FilterRotated:
    """Drop pages whose front matter says they are not upright (the recipe trains on upright pages only)."""

    def __call__(self, sample: Sample) -> Sample:
        page = sample["page_data"]
        if not page.is_rotation_valid or page.rotation_correction != 0:
            raise DropSample(
                f"rotated page (is_rotation_valid={page.is_rotation_valid}, "
                f"rotation_correction={page.rotation_correction})"
            )
        return sample


class ReformatLatexBoldItalic:
    """Rewrite `\\textbf{..}` / `\\textit{..}` outside math into Markdown bold / italic."""

    def __call__(self, sample: Sample) -> Sample:
        page = sample["page_data"]
        if not page.natural_text:
            return sample
        return {
            **sample,
            "page_data": dataclasses.replace(page, natural_text=reformat_latex_bold_italic(page.natural_text)),
        }


class TextRuleFilter:
    """Drop pages whose text breaks a rule the model should not learn (Markdown tables, bad HTML, stray LaTeX).

    Args:
        math_check: how equations are checked: `katex` renders each one with KaTeX in headless
            Chromium (the recipe; fails loudly when Chromium is missing), `off` skips the check.
    """

    def __init__(self, math_check: Literal["katex", "off"] = "katex"):
        self.math_check = math_check
        self._checker = None

    def __call__(self, sample: Sample) -> Sample:
        text = sample["page_data"].natural_text
        if not text:
            return sample
        reason = text_rule_violation(text, None if self.math_check == "off" else self._check_math)
        if reason:
            raise DropSample(reason)
        return sample

    def _check_math(self, equations: list[str]) -> list[str | None]:
        if self._checker is None:  # started on the first page with math, in the worker that needs it
            self._checker = load_math_checker(self.math_check)
        return self._checker(equations)


class RenderPage:
    """Render the page's PDF into `image`, as the original renders it by default.

    Args:
        longest_side: pixels of the image's longest side (1288 in the recipe); the size is the original's
            to the pixel for every page size (its `pdfinfo` + `pdftoppm` arithmetic).
        page_box: `media` renders the MediaBox, as the original (`pdftoppm` without `-cropbox`); `crop`
            renders the CropBox a viewer shows (another image and grid where the two boxes differ).
        min_dpi: optional lower DPI bound for huge pages (None: none, as the original).
        max_dpi: optional upper DPI bound for tiny pages (None: none, as the original).
        cache_dir: a content-addressed cache of rendered pages (PNG), reused across epochs and runs;
            None renders every time. `python -m vlm_ocr cache-renders` fills it ahead of training.
    """

    def __init__(
        self,
        longest_side: int = 1288,
        page_box: Literal["media", "crop"] = "media",
        min_dpi: float | None = None,
        max_dpi: float | None = None,
        cache_dir: str | None = None,
    ):
        self.spec = RenderSpec(longest_side=longest_side, page_box=page_box, min_dpi=min_dpi, max_dpi=max_dpi)
        self.cache = RenderCache(cache_dir) if cache_dir else None

    def render(self, pdf_path: str, page_index: int = 0) -> Image.Image:
        if self.cache is not None:
            return self.cache.render(pdf_path, page_index, self.spec)
        return render_page(pdf_path, page_index, self.spec)

    def __call__(self, sample: Sample) -> Sample:
        try:
            image = self.render(sample["pdf_path"])
        except PdfError as err:
            raise DropSample(str(err)) from None
        return {**sample, "image": image}


class FormatTarget:
    """The answer text: front matter + text, the recipe's exact format (language written as given), stripped.

    Args:
        null_language: spelling of a missing language; the recipe's target writes `None`.
    """

    def __init__(self, null_language: str = "None"):
        self.null_language = null_language

    def __call__(self, sample: Sample) -> Sample:
        page = sample["page_data"]
        target = format_page_markdown(page, null_language=self.null_language, language_as_given=True)
        return {**sample, "target": target.strip()}


class BuildMessages:
    """One user turn holding the instruction and the page image.

    Args:
        prompt: which olmOCR instruction: `v4_yaml` (the recipe's, no anchoring) or `yaml` (older).
        prompt_first: text before the image (the recipe), else image first.
    """

    def __init__(self, prompt: Literal["v4_yaml", "yaml"] = "v4_yaml", prompt_first: bool = True):
        self.prompt = prompt
        self.prompt_first = prompt_first

    def __call__(self, sample: Sample) -> Sample:
        text = {"type": "text", "text": PROMPTS[self.prompt]()}
        image = {"type": "image"}
        content = [text, image] if self.prompt_first else [image, text]
        return {**sample, "messages": [{"role": "user", "content": content}]}
