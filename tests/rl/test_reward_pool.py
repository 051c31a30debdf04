"""Rewards are scored off the training thread, in threads or in spawned processes, with the same results."""

import subprocess
import sys
import threading
from pathlib import Path

from vlm_ocr.bench.loading import build_test
from vlm_ocr.bench.training_pages import BenchPage
from vlm_ocr.rl.reward_pool import RewardPool
from vlm_ocr.rl.rewards import Completion, RewardScorer, RewardWeights

REPO = Path(__file__).resolve().parents[2]
EOS = 151645


def pages():
    tests = [{"type": "present", "text": "alpha beta"}, {"type": "absent", "text": "gamma"}, {"type": "baseline"}]
    built = tuple(build_test({"pdf": "d.pdf", "page": 1, "id": f"t{i}", **t}) for i, t in enumerate(tests))
    return [BenchPage("d.pdf", 1, None, built, None), BenchPage("e.pdf", 1, None, built[:1], None)]


COMPLETIONS = [Completion("alpha beta", EOS), Completion("gamma", 3), Completion("", None)]


class ThreadNoting(RewardScorer):
    def score(self, page, completions):
        self.threads = getattr(self, "threads", []) + [threading.current_thread().name]
        return super().score(page, completions)


def test_thread_pool_scores_off_the_calling_thread_with_the_same_rewards():
    scorer = ThreadNoting(RewardWeights(), EOS)
    direct = [RewardScorer(RewardWeights(), EOS).score(p, COMPLETIONS) for p in pages()]
    with RewardPool(scorer, workers=2) as pool:
        future = pool.submit(pages()[0], COMPLETIONS)
        assert future.result() == direct[0]
        assert pool.score([(p, COMPLETIONS) for p in pages()]) == direct
    assert scorer.threads and all(name.startswith("reward") for name in scorer.threads)


def test_process_pool_gives_the_same_rewards():
    scorer = RewardScorer(RewardWeights(), EOS)
    direct = [scorer.score(p, COMPLETIONS) for p in pages()]
    with RewardPool(scorer, workers=1, kind="process") as pool:
        assert pool.score([(p, COMPLETIONS) for p in pages()]) == direct


def test_reward_workers_start_without_the_training_stack():
    code = (
        "import sys, vlm_ocr.rl.reward_pool, vlm_ocr.rl.rewards; "
        "heavy = sorted({'torch', 'transformers', 'lightning'} & set(sys.modules)); print(heavy); sys.exit(bool(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
