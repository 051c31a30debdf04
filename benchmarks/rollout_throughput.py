"""Rollout throughput: a page's G completions sampled in one batched call against one completion at a time.

    python benchmarks/rollout_throughput.py --mode cpu            # tiny model, smoke test (CI runs it)
    python benchmarks/rollout_throughput.py --mode gpu            # full 7B shape, random weights, bf16, one GPU

Both sides run vlm_ocr.rl.rollout.HFRollout (Hugging Face generate with the KV cache) on the same rendered pages
with the same sampling settings: `batched` samples the G completions of every page in one call
(num_return_sequences G), `one_at_a_time` calls it G times per page with one completion each. Random weights
never end a turn, so every completion runs to --max-new-tokens on both sides: the same tokens, the same work.
Prints tokens/s of both and their ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from vlm_ocr.data.processor import QwenInputs
from vlm_ocr.data.transforms import BuildMessages, RenderPage
from vlm_ocr.model.families import QWEN2_5_VL
from vlm_ocr.prep.demo_pairs import document_page, draw_pdf
from vlm_ocr.rl.rollout import HFRollout, RolloutPrompt, RolloutSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import make_model  # noqa: E402  (the 7B-shape model both benchmarks build)


def page_prompts(workdir: Path, processor, pages: int, longest_side: int) -> list[RolloutPrompt]:
    """Generated document pages (make-sample-data's), rendered and prompted as the SFT pipeline does."""
    rng = random.Random(0)
    render, messages = RenderPage(longest_side), BuildMessages()
    inputs = QwenInputs(processor, family=QWEN2_5_VL)  # the processor is built, not loaded: no folder to read
    prompts = []
    for n in range(pages):
        pdf = workdir / f"page{n}.pdf"
        pdf.write_bytes(draw_pdf(document_page(rng)))
        prompts.append(RolloutPrompt.from_page(render.render(str(pdf)), inputs, messages))
    return prompts


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(name: str, engine: HFRollout, prompts: list[RolloutPrompt], calls_per_page: int, device: str) -> dict:
    sync(device)
    start, tokens = time.perf_counter(), 0
    for page, prompt in enumerate(prompts):
        for call in range(calls_per_page):
            tokens += engine.sample([prompt], seed=1000 * page + call).tokens
    sync(device)
    seconds = time.perf_counter() - start
    return {"name": name, "tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--generations", type=int, default=None, help="completions per page, G (cpu 8, gpu 28)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="tokens per completion (cpu 32, gpu 256)")
    parser.add_argument("--pages", type=int, default=None, help="pages (cpu 1, gpu 2)")
    parser.add_argument("--longest-side", type=int, default=None, help="render size (cpu 224, gpu 1288)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--device", default=None, help="gpu mode's device (default cuda; cpu for a dry run)")
    parser.add_argument("--decoder-layers", type=int, default=None, help="gpu mode: fewer decoder layers (dry run)")
    parser.add_argument("--attn", default="auto", help="attention (auto: flash-attention 2, else sdpa_varlen)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    gpu = args.mode == "gpu"
    device = args.device or ("cuda" if gpu else "cpu")
    if device == "cpu":
        torch.set_num_threads(2)
    generations = args.generations or (28 if gpu else 8)
    max_new = args.max_new_tokens or (256 if gpu else 32)
    with tempfile.TemporaryDirectory(prefix="vlm_ocr_rollout_bench_") as tmp:
        model, processor = make_model(args.mode, Path(tmp), args.attn, device, args.decoder_layers)
        model.to(device)
        prompts = page_prompts(
            Path(tmp), processor, args.pages or (2 if gpu else 1), args.longest_side or (1288 if gpu else 224)
        )
        spec = RolloutSpec(generations, max_new, args.temperature)
        batched = HFRollout(model, processor.tokenizer, spec)
        single = HFRollout(model, processor.tokenizer, RolloutSpec(1, max_new, args.temperature))
        single.sample(prompts[:1], seed=0)  # warm-up: kernels, allocator
        results = [
            measure("batched", batched, prompts, 1, device),
            measure("one_at_a_time", single, prompts, generations, device),
        ]
    report = {
        "mode": args.mode,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "attn_implementation": model.config._attn_implementation,
        "decoder_layers": model.config.text_config.num_hidden_layers,
        "pages": len(prompts),
        "prompt_tokens": [int(p.inputs["input_ids"].numel()) for p in prompts],
        "generations": generations,
        "max_new_tokens": max_new,
        "results": results,
        "ratio_tokens_per_s": round(results[0]["tokens_per_s"] / results[1]["tokens_per_s"], 2),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
