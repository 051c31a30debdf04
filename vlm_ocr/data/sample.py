"""The sample dict that flows through the pipeline, and how a step drops a sample with a reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Sample = dict[str, Any]
"""Keys: markdown_path, pdf_path, index, epoch, seed; steps add page_data, image, target, messages, ..."""

Transform = Callable[[Sample], "Sample | None"]
"""A pipeline step: returns a new sample, None to drop it, or raises DropSample with a reason."""


class DropSample(Exception):
    """Raised by a step to drop the sample; the dataset records the step's name and this reason."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def step_name(step: object) -> str:
    return type(step).__name__
