"""Synthetic olmOCR-Bench pages: a chat model's HTML of a real page, rendered by Chromium, with tests from the HTML."""
