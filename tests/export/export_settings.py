"""Settings shared by the export tests."""

from vlm_ocr.export.parity import ParitySpec

FAST_PARITY = ParitySpec(pages=1, longest_side=112, new_tokens=4)
"""Parity on one small page with a short generation: enough to catch a wrong export, fast on CPU."""
