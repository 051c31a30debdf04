"""The training data pipeline: the recipe's steps, the model transform, the DataModule (names used in YAML)."""

from vlm_ocr.data.augment import RotationAugmentation
from vlm_ocr.data.datamodule import PageDataModule
from vlm_ocr.data.transforms import (
    BuildMessages,
    FilterRotated,
    FormatTarget,
    ParseFrontMatter,
    ReformatLatexBoldItalic,
    RenderPage,
    TextRuleFilter,
)

__all__ = [
    "BuildMessages",
    "FilterRotated",
    "FormatTarget",
    "PageDataModule",
    "ParseFrontMatter",
    "ReformatLatexBoldItalic",
    "RenderPage",
    "RotationAugmentation",
    "TextRuleFilter",
]
