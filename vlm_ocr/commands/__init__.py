"""The project's own verbs of `python -m vlm_ocr` (beside LightningCLI's fit/validate/test/predict)."""
