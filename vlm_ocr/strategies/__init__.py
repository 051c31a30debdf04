"""Lightning strategies for sharding the model across devices (YAML names)."""

from vlm_ocr.strategies.fsdp2 import FSDP2Strategy

__all__ = ["FSDP2Strategy"]
