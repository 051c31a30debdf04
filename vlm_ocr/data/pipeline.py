"""The sample pipeline by role: read, page filters, text steps, text filters, render, augmentations, target, messages.

Each role is configured under its own name (`data.render`, `data.text_steps`, ...), so nothing is found by type or
by position, and an overlay changes one role without restating the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from vlm_ocr.data.augment import same_pages_every_epoch
from vlm_ocr.data.sample import Sample, Transform
from vlm_ocr.data.transforms import BuildMessages, RenderPage
from vlm_ocr.pages.front_matter import PageResponse


@dataclass(frozen=True)
class PagePipeline:
    """The steps of each role, run in the order of the fields (augmentations after render, before the target).

    Args:
        read: reads the pair's Markdown into `page_data` (ParseFrontMatter).
        page_filters: drop pages by their front matter (FilterRotated).
        text_steps: rewrite `page_data.natural_text` (ReformatLatexBoldItalic); the packing plan runs them too.
        text_filters: drop pages by their text (TextRuleFilter).
        render: renders the PDF page into `image`; predict renders with it (its defaults when None).
        target: makes the answer text `target` (FormatTarget); the packing plan counts its tokens.
        messages: makes the chat `messages` (BuildMessages); predict prompts with it (its defaults when None).
        train_augmentations: steps for training only, between render and target (RotationAugmentation).
        eval_augmentations: the same for the eval sets (drawn as in epoch 0: every validation sees the same pages).
    """

    read: Transform | None = None
    page_filters: Sequence[Transform] = ()
    text_steps: Sequence[Transform] = ()
    text_filters: Sequence[Transform] = ()
    render: RenderPage | None = None
    target: Transform | None = None
    messages: Transform | None = None
    train_augmentations: Sequence[Transform] = ()
    eval_augmentations: Sequence[Transform] = ()

    def steps(self, augmentations: Sequence[Transform] = ()) -> list[Transform]:
        """Every configured step in pipeline order, with `augmentations` after render."""
        before = [self.read, *self.page_filters, *self.text_steps, *self.text_filters, self.render]
        after = [self.target, self.messages]
        return [step for step in [*before, *augmentations, *after] if step is not None]

    def train_steps(self) -> list[Transform]:
        return self.steps(self.train_augmentations)

    def eval_steps(self) -> list[Transform]:
        return [same_pages_every_epoch, *self.steps(self.eval_augmentations)]

    @property
    def render_step(self) -> RenderPage:
        """The render step, its defaults when none is configured (predict renders PDFs with it)."""
        return self.render if self.render is not None else RenderPage()

    @property
    def messages_step(self) -> Transform:
        """The messages step, BuildMessages' defaults when none is configured (predict prompts with it)."""
        return self.messages if self.messages is not None else BuildMessages()

    def prompt_messages(self) -> list[dict[str, Any]]:
        """The chat messages of a prompt (an image placeholder), as the messages step makes them."""
        return (self.messages_step({}) or {})["messages"]


ROLES = tuple(field.name for field in fields(PagePipeline))
"""The roles, in pipeline order (the data module's init arguments of the same names)."""


def answer_text(page: PageResponse, text_steps: Sequence[Transform], target: Transform) -> str:
    """`target`'s answer text of `page` after `text_steps` (a step that drops the page leaves the text as it was)."""
    sample: Sample = {"page_data": page}
    for step in text_steps:
        sample = step(sample) or sample
    return (target(sample) or sample)["target"]


def describe(step: object) -> str:
    """`Name(arg=value, ...)` of a step's public attributes: what its output depends on, for cache keys."""
    attributes = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(step).items()) if not k.startswith("_"))
    return f"{type(step).__module__}.{type(step).__qualname__}({attributes})"
