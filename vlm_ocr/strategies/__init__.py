"""Lightning strategies for sharding Qwen2.5-VL across devices (YAML names)."""

from vlm_ocr.strategies.fsdp2 import FSDP2Strategy

__all__ = ["FSDP2Strategy"]
