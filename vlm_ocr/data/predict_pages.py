"""Pages of arbitrary PDFs (files or folders, any page count) as prompt-only samples for predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from vlm_ocr.data.processor import QwenInputs
from vlm_ocr.data.sample import Transform
from vlm_ocr.errors import UsageError
from vlm_ocr.pages.pdf import PdfError, RenderSpec, page_count, render_page


def expand_pdf_paths(paths: list[str]) -> list[Path]:
    """Files as given, folders searched recursively for *.pdf, in sorted order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pdfs = sorted(path.rglob("*.pdf"))
            if not pdfs:
                raise UsageError(f"--data.predict_paths: {path}: no PDF in this folder (searched it recursively)")
            found.extend(pdfs)
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"--data.predict_paths: {path}: no such PDF file or folder")
    return found


class PdfPageDataset(Dataset):
    """One item per page; a PDF that cannot be opened becomes one error item (reported, not fatal)."""

    def __init__(self, paths: list[str], render: RenderSpec, inputs: QwenInputs, messages: Transform):
        self.render = render
        self.inputs = inputs
        self.messages = messages
        self.items: list[tuple[Path, int, str | None]] = []
        for pdf in expand_pdf_paths(paths):
            try:
                self.items.extend((pdf, page, None) for page in range(page_count(pdf)))
            except PdfError as err:
                self.items.append((pdf, -1, err.reason))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pdf, page, error = self.items[index]
        if error is None:
            try:
                image = render_page(pdf, page, self.render)
            except PdfError as err:
                error = err.reason
        if error is not None:
            return {
                "dropped": {
                    "source": str(pdf),
                    "page": page + 1,
                    "markdown_path": None,
                    "step": "RenderPage",
                    "reason": error,
                }
            }
        sample = self.messages({"image": image})
        return {
            **self.inputs.prompt(sample["messages"], image),
            "source": str(pdf),
            "page": page + 1,
            "markdown_path": None,
        }


class EvalPromptDataset(Dataset):
    """An eval dataset's pages as prompt-only predict items that carry their reference answer.

    Args:
        pages: a PageDataset whose steps end with the target and messages (no model transform).
        inputs: the model transform, used for the prompt only.
    """

    def __init__(self, pages: Dataset, inputs: QwenInputs):
        self.pages = pages
        self.inputs = inputs

    def __len__(self) -> int:
        return len(self.pages)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.pages[index]
        if "dropped" in sample:
            drop = sample["dropped"]
            pdf = str(Path(drop["markdown_path"]).with_suffix(".pdf"))
            return {"dropped": {**drop, "source": pdf, "page": 1}}
        return {
            **self.inputs.prompt(sample["messages"], sample["image"]),
            "source": sample["pdf_path"],
            "page": 1,
            "markdown_path": sample["markdown_path"],
            "dataset": sample["dataset"],
            "reference": sample["target"],
        }
