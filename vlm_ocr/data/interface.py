"""What callbacks and verbs read from the data module, declared: PageDataModule is one (the type checker holds it
to this), and a data module of another stage that offers the same is read the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from vlm_ocr.data.pipeline import PagePipeline
    from vlm_ocr.data.processor import QwenInputs
    from vlm_ocr.pages.pdf import RenderSpec


@runtime_checkable
class PageData(Protocol):
    """A data module of page datasets, as GenerationMetrics, ExportHuggingFace and the data verbs read it."""

    @property
    def eval_names(self) -> list[str]:
        """The eval sets' names, in the order of `eval_sets` (and of the validation dataloaders)."""
        ...

    @property
    def eval_sets(self) -> Sequence[Any]:
        """The eval datasets, after setup: item `(epoch, index)` is a sample, or a record of why it was dropped."""
        ...

    @property
    def train_set(self) -> Any:
        """The train dataset (one part per train root), after setup("fit")."""
        ...

    @property
    def processor(self) -> Any:
        """The model's processor (tokenizer and image processor), after setup."""
        ...

    @property
    def inputs(self) -> QwenInputs | None:
        """The model transform (chat template, image processor, label masking), after setup."""
        ...

    @property
    def pipeline(self) -> PagePipeline:
        """The sample pipeline by role."""
        ...

    def setup(self, stage: str | None = None) -> None: ...

    def page_prompt_settings(self) -> tuple[RenderSpec, list[dict[str, Any]]]:
        """How a page becomes a prompt: the render settings and the chat messages (an image placeholder)."""
        ...


def page_data(datamodule: object) -> PageData | None:
    """`datamodule` as a PageData, None when it is none (a run without one, or a plain LightningDataModule)."""
    return datamodule if isinstance(datamodule, PageData) else None
