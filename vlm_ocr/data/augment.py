"""Rotation of pages by a label, in olmOCR's convention, and the rotation augmentation that produces such labels.

The convention is what olmOCR's code does (not what its comments and silver-data prompt say): its augmentation turns
the image with `Image.Transpose.ROTATE_<d>` (counter-clockwise by d) and labels it rotation_correction = 360 - d, and
its inference pipeline fixes a page by applying `ROTATE_<rotation_correction>`. So rotation_correction is the
counter-clockwise turn that makes the page upright, and every turn by a label in vlm_ocr goes through
`turn_counter_clockwise`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from vlm_ocr.data.sample import Sample

# Counter-clockwise degrees a page was turned -> rotation_correction (counter-clockwise degrees that turn it back).
CORRECTION = {90: 270, 180: 180, 270: 90}
_TRANSPOSE = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def sample_rng(sample: Sample, salt: int) -> np.random.Generator:
    """A generator that depends only on (seed, epoch, sample index, salt): the same in any worker."""
    return np.random.default_rng([sample["seed"], sample["epoch"], sample["index"], salt])


def turn_counter_clockwise(image: Image.Image, degrees: int) -> Image.Image:
    """The image turned counter-clockwise by 0, 90, 180 or 270 degrees (lossless, as olmOCR's `ROTATE_<degrees>`)."""
    degrees %= 360
    if degrees and degrees not in _TRANSPOSE:
        raise ValueError(f"a page turns by 0, 90, 180 or 270 degrees, not {degrees}")
    return image.transpose(_TRANSPOSE[degrees]) if degrees else image


def same_pages_every_epoch(sample: Sample) -> Sample:
    """First step of the eval pipelines: their random steps draw as in epoch 0, so every validation (and
    GenerationMetrics, which reads epoch 0) sees the same pages."""
    return {**sample, "epoch": 0}


class RotationAugmentation:
    """With probability `probability`, turn the image counter-clockwise by 90, 180 or 270 degrees and record the
    correction in the target (is_rotation_valid false, rotation_correction the counter-clockwise turn back), as
    olmOCR's RotationAugmentation does.

    Args:
        probability: chance that a page is turned (0.02 in the recipe).
    """

    _SALT = 1

    def __init__(self, probability: float = 0.02):
        self.probability = probability

    def __call__(self, sample: Sample) -> Sample:
        rng = sample_rng(sample, self._SALT)
        if rng.random() >= self.probability:
            return sample
        angle = int(rng.choice([90, 180, 270]))
        page = dataclasses.replace(sample["page_data"], is_rotation_valid=False, rotation_correction=CORRECTION[angle])
        return {**sample, "image": turn_counter_clockwise(sample["image"], angle), "page_data": page}
