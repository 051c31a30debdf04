"""Rewards computed off the training thread: submit a page's completions, collect their rewards later.

The unit tests are CPU work in Python and math tests wait on a Chromium subprocess; run in the training loop they
would leave the GPU idle. The loop submits each page's group as soon as its rollout is decoded and collects the
futures just before it needs the advantages, so scoring overlaps the next rollout or the log-prob passes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Literal

from vlm_ocr.bench.training_pages import BenchPage
from vlm_ocr.rl.rewards import Completion, Reward, RewardScorer


class RewardPool:
    """A pool of reward workers around one scorer.

    Args:
        scorer: what scores a page's completions.
        workers: threads or processes.
        kind: `thread` (the default: scoring mostly waits on Chromium, and the training thread releases the GIL
            while its kernels run) or `process` (pure-Python scoring of many tests in parallel; workers are spawned,
            not forked, so a CUDA context is never copied, and they import the reward code without torch).
    """

    def __init__(self, scorer: RewardScorer, workers: int = 4, kind: Literal["thread", "process"] = "thread"):
        self.scorer = scorer
        if kind == "process":
            context = multiprocessing.get_context("spawn")
            self._executor: Executor = ProcessPoolExecutor(workers, mp_context=context)
        else:
            self._executor = ThreadPoolExecutor(workers, thread_name_prefix="reward")

    def submit(self, page: BenchPage, completions: Sequence[Completion]) -> Future[list[Reward]]:
        """Start scoring; the future holds one Reward per completion, in order (or the error scoring raised)."""
        return self._executor.submit(self.scorer.score, page, list(completions))

    def score(self, groups: Sequence[tuple[BenchPage, Sequence[Completion]]]) -> list[list[Reward]]:
        """Score several pages' groups at once and wait for all of them."""
        futures = [self.submit(page, completions) for page, completions in groups]
        return [future.result() for future in futures]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> RewardPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
