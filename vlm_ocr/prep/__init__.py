"""Mechanics of the data-preparation tools (runner, storage, fetching, batch files, per-tool steps); the demo pairs."""
