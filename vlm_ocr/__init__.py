"""vlm_ocr: fine-tune Qwen2.5-VL into a document OCR model with PyTorch Lightning."""

__version__ = "0.1.0"
