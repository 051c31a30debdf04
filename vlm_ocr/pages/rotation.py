"""Turning a page by a label, in olmOCR's convention: what `rotation_correction` in the front matter means.

The convention is what olmOCR's code does (not what its comments and silver-data prompt say): its augmentation turns
the image with `Image.Transpose.ROTATE_<d>` (counter-clockwise by d) and labels it rotation_correction = 360 - d, and
its inference pipeline fixes a page by applying `ROTATE_<rotation_correction>`. So rotation_correction is the
counter-clockwise turn that makes the page upright, and every turn by a label in vlm_ocr goes through
`turn_counter_clockwise`.
"""

from __future__ import annotations

from PIL import Image

# Counter-clockwise degrees a page was turned -> rotation_correction (counter-clockwise degrees that turn it back).
CORRECTION = {90: 270, 180: 180, 270: 90}
_TRANSPOSE = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def turn_counter_clockwise(image: Image.Image, degrees: int) -> Image.Image:
    """The image turned counter-clockwise by 0, 90, 180 or 270 degrees (lossless, as olmOCR's `ROTATE_<degrees>`)."""
    degrees %= 360
    if degrees and degrees not in _TRANSPOSE:
        raise ValueError(f"a page turns by 0, 90, 180 or 270 degrees, not {degrees}")
    return image.transpose(_TRANSPOSE[degrees]) if degrees else image
