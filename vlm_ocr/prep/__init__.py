"""Mechanics of the data-preparation tools: the runner, storage and fetching, batch files, per-tool steps."""
