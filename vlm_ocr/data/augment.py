"""The rotation augmentation (olmOCR's convention: vlm_ocr.pages.rotation) and the eval pipelines' first step."""

from __future__ import annotations

import dataclasses

import numpy as np

from vlm_ocr.data.sample import Sample
from vlm_ocr.pages.rotation import CORRECTION, turn_counter_clockwise


def sample_rng(sample: Sample, salt: int) -> np.random.Generator:
    """A generator that depends only on (seed, epoch, sample index, salt): the same in any worker."""
    return np.random.default_rng([sample["seed"], sample["epoch"], sample["index"], salt])


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
