"""Sinks: where `map_items` hands results in the main thread, in input order, for tools that write shared files."""

from __future__ import annotations

from typing import Any, Protocol


class Sink(Protocol):
    """Receives results in the main thread, in input order, for tools that write shared files (JSONL parts)."""

    def start(self, resume: bool) -> set[str]:
        """Prepare to write; with `resume`, return the keys of items already written."""
        ...

    def write(self, key: str, result: Any) -> None: ...

    def close(self) -> None: ...


class Collect:
    """A sink that keeps results in memory (small per-item records that a tool aggregates at the end)."""

    def __init__(self) -> None:
        self.results: list[Any] = []

    def start(self, resume: bool) -> set[str]:
        return set()

    def write(self, key: str, result: Any) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass
