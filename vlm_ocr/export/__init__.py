"""Turn training results into servable Hugging Face folders: merge LoRA, soup, FP8, parity-checked."""
