"""A page image -> clean semantic HTML, in the original's steps: upright check (turned pages are skipped), layout
analysis, HTML with its rules, and a refinement that shows the model its own render."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vlm_ocr.prep.fetch import RetryPolicy
from vlm_ocr.prep.ordered_pool import Drop
from vlm_ocr.synth import prompts
from vlm_ocr.synth.chat import Reply, ask, image_part, text_part
from vlm_ocr.synth.render import Overflow, PageGeometry, pdf_image, render_one_page

_CODE_BLOCKS = (r"```html\n(.*?)```", r"```\n(.*?)```", r"```html(.*?)```", r"```(.*?)```")
COMPLETE = "stop"
"""The finish reason of a complete answer (the original's Anthropic `end_turn`)."""


@dataclass(frozen=True)
class ChatSettings:
    """How the chat model is asked."""

    model: str
    """Chat model name at the endpoint."""
    refine_thinking_tokens: int = 0
    """Extended-thinking budget of the refinement (the original: 12000 on Claude); 0 sends none, as an
    OpenAI-compatible endpoint that knows no `thinking` field needs."""
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(timeout_s=900.0))


@dataclass
class MinedHtml:
    """The page's final HTML and the requests made for it."""

    html: str
    replies: list[Reply]


def extract_code_block(text: str) -> str | None:
    """The last ```html block of an answer, else the last ``` block (each with or without a newline after it)."""
    for pattern in _CODE_BLOCKS:
        if blocks := re.findall(pattern, text, re.DOTALL):
            return blocks[-1].strip()
    return None


class DroppedPage(Drop):
    """A page dropped after some requests: they are kept so that their tokens are counted too."""

    def __init__(self, reason: str, replies: list[Reply]):
        super().__init__(reason)
        self.replies = replies


def mine_html(client: Any, settings: ChatSettings, png: bytes, geometry: PageGeometry, chromium: str) -> MinedHtml:
    """The four requests for one page image; `DroppedPage` (the reason, the requests) for a turned page or an
    unusable answer."""
    replies: list[Reply] = []
    try:
        return _conversation(client, settings, png, geometry, chromium, replies)
    except Drop as reason:
        raise DroppedPage(str(reason), replies) from None


def _conversation(
    client, settings: ChatSettings, png: bytes, geometry: PageGeometry, chromium: str, replies
) -> MinedHtml:
    width, height = geometry.viewport

    def asked(step: str, content: list, max_tokens: int, temperature: float, **extra: Any) -> Reply:
        reply = ask(client, settings.model, content, step=step, max_tokens=max_tokens, temperature=temperature,
                    policy=settings.retry, **extra)  # fmt: skip
        replies.append(reply)
        return reply

    image = image_part(png)
    orientation = asked("orientation", [image, text_part(prompts.ORIENTATION)], 1000, 0.0).text.strip()
    if prompts.UPRIGHT_ANSWER not in orientation:
        raise Drop(f"not upright ({orientation[:40] or 'no answer'})")
    analysis = asked("analysis", [image, text_part(prompts.ANALYSIS)], 20000, 0.1)
    _require_complete(analysis)
    draft = asked("html", [image, text_part(prompts.html_request(analysis.text, width, height))], 20000, 0.2)
    _require_complete(draft)
    html = extract_code_block(draft.text)
    if not html:
        raise Drop("no HTML code block in the answer")
    try:
        rendered = render_one_page(html, geometry, chromium)
    except Overflow as err:  # the original falls back to this draft, whose render then fails the same way
        raise Drop(str(err)) from None
    refinement = [
        text_part(prompts.REFINEMENT_INTRO),
        image,
        text_part(prompts.AFTER_ORIGINAL),
        image_part(pdf_image(rendered.pdf, max(width, height))),
        text_part(prompts.AFTER_RENDER),
        text_part(prompts.refinement_request(html, width, height)),
    ]
    thinking = settings.refine_thinking_tokens
    extra = {"extra_body": {"thinking": {"type": "enabled", "budget_tokens": thinking}}} if thinking else {}
    revised = asked("refinement", refinement, 40000, 1.0, **extra)
    refined = extract_code_block(revised.text) if revised.finish_reason == COMPLETE else None
    return MinedHtml(refined or html, replies)  # an incomplete or empty refinement keeps the draft, as the original


def _require_complete(reply: Reply) -> None:
    if reply.finish_reason != COMPLETE:
        raise Drop(f"{reply.step} answer incomplete (finish_reason={reply.finish_reason or 'none'})")
