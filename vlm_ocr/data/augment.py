"""Train-only augmentation, kept apart so eval, test and predict pipelines never pick it up."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from vlm_ocr.data.sample import Sample

# Clockwise degrees the image is turned -> clockwise degrees that turn it back upright.
CORRECTION = {90: 270, 180: 180, 270: 90}


def sample_rng(sample: Sample, salt: int) -> np.random.Generator:
    """A generator that depends only on (seed, epoch, sample index, salt): the same in any worker."""
    return np.random.default_rng([sample["seed"], sample["epoch"], sample["index"], salt])


def rotate_clockwise(image: Image.Image, degrees: int) -> Image.Image:
    return image.rotate(-degrees, expand=True) if degrees % 360 else image


class RotationAugmentation:
    """With probability `probability`, turn the image by 90, 180 or 270 degrees clockwise and record
    the correction in the target (is_rotation_valid false, rotation_correction the inverse angle).

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
        return {**sample, "image": rotate_clockwise(sample["image"], angle), "page_data": page}
