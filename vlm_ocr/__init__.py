"""vlm_ocr: fine-tune vision-language models (the Qwen-VL families) into document OCR models with PyTorch Lightning."""

__version__ = "0.1.0"
