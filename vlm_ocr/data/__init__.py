"""Data pipeline: pair trees, the recipe's steps, the model transform, the DataModule (names used in YAML).

Names are loaded on first use, so tools that only need the light modules (front matter, pairs) do not
import Lightning and torch at start-up.
"""

from importlib import import_module

_EXPORTS = {
    "BuildMessages": "vlm_ocr.data.transforms",
    "FilterRotated": "vlm_ocr.data.transforms",
    "FormatTarget": "vlm_ocr.data.transforms",
    "ParseFrontMatter": "vlm_ocr.data.transforms",
    "ReformatLatexBoldItalic": "vlm_ocr.data.transforms",
    "RenderPage": "vlm_ocr.data.transforms",
    "TextRuleFilter": "vlm_ocr.data.transforms",
    "RotationAugmentation": "vlm_ocr.data.augment",
    "PageDataModule": "vlm_ocr.data.datamodule",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vlm_ocr.data' has no attribute {name!r}")
