"""Score completions with olmocr 0.4.27's own GRPO reward functions, as its TRL run calls them.

Run as a script in a subprocess (its logging setup, Playwright browser threads and equation cache stay out of
pytest):
    python original_rewards.py CASES_JSON OUT_JSON [--chromium PATH]
CASES_JSON: {"eos_token_id": int, "benches": [{"folder": str, "completions": {"<pdf>::<page>": [[text, ids],
...]}}]}. For each bench folder the original's own dataset (`OlmOCRBenchDataset`) reads the pages; every
completion of a page then goes, in one batch per folder, through `olmocr_bench_reward`, `reward_front_matter`
and `reward_eos` with the keyword arguments TRL passes (the dataset's columns, repeated per completion; the
completion in TRL's conversational form). OUT_JSON: per folder, the dataset's pages and each completion's three
rewards. Without --chromium, math tests cannot be built (the caller then writes none).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--chromium", default=None)
    args = parser.parse_args()
    if args.chromium:
        from original_pipeline import use_system_chromium

        use_system_chromium(args.chromium)
    from olmocr.train import grpo_train

    logging.getLogger().setLevel(logging.ERROR)  # the module configures INFO logging at import
    cases = json.loads(args.cases.read_text())
    results = []
    for bench in cases["benches"]:
        dataset = grpo_train.OlmOCRBenchDataset(bench["folder"], processor=None)
        rows, columns = [], {"pdf_path": [], "jsonl_file": [], "test_ids": [], "claude_original": []}
        texts, ids = [], []
        for sample in dataset.samples:
            key = f"{sample['pdf_name']}::{sample['page']}"
            for text, completion_ids in bench["completions"].get(key, []):
                rows.append(key)
                for column in columns:
                    columns[column].append(sample[column])
                texts.append([{"role": "assistant", "content": text}])
                ids.append(completion_ids)
        prompts, unit_tests, front_matter, end_of_turn = [None] * len(texts), [], [], []
        if texts:  # a folder given for its dataset only
            unit_tests = grpo_train.olmocr_bench_reward(prompts, texts, completion_ids=ids, **columns)
            front_matter = grpo_train.reward_front_matter(prompts, texts, completion_ids=ids, **columns)
            end_of_turn = grpo_train.reward_eos(cases["eos_token_id"], prompts, texts, completion_ids=ids, **columns)
        results.append(
            {
                "pages": {
                    f"{s['pdf_name']}::{s['page']}": {
                        "test_ids": s["test_ids"],
                        "jsonl_file": Path(s["jsonl_file"]).name,
                        "reference": s["claude_original"],
                    }
                    for s in dataset.samples
                },
                "rewards": [list(r) for r in zip(rows, unit_tests, front_matter, end_of_turn, strict=True)],
            }
        )
    args.out.write_text(json.dumps(results))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
