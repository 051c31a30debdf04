"""KaTeX math rendering in headless Chromium and comparison of rendered equations (spec §4)."""
