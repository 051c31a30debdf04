"""Training throughput: an olmOCR-style step against vlm_ocr's step, on the same pages, in one process.

    python benchmarks/train_throughput.py --mode cpu            # tiny model, smoke test (CI runs it)
    python benchmarks/train_throughput.py --mode gpu            # full 7B shape, random weights, bf16, one GPU

olmOCR-style: the Hugging Face model's own forward with labels (full vocabulary logits for every token),
one page per micro-step. vlm_ocr: pages packed up to --pack-tokens with per-page positions and attention
(sdpa_varlen, or flash-attention 2 when installed), loss on the answer tokens only, in checkpointed chunks.
Both freeze the vision tower, accumulate gradients over the same pages and take an AdamW step every
--accumulate pages, so the same work is done; only the step differs.
Prints pages/s, tokens/s (image and text), MFU and peak memory of both and their ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vlm_ocr.data.collate import Collator
from vlm_ocr.data.dataset import PageDataset
from vlm_ocr.data.index import build_index
from vlm_ocr.data.packing import PackCollator, greedy_packs
from vlm_ocr.data.processor import IGNORE_INDEX, QwenInputs
from vlm_ocr.data.transforms import BuildMessages, FormatTarget, ParseFrontMatter, RenderPage
from vlm_ocr.model.architecture import build_config, make_model_folder
from vlm_ocr.model.families import QWEN2_5_VL
from vlm_ocr.model.flops import peak_flops_for, step_flops
from vlm_ocr.model.generate import model_inputs
from vlm_ocr.model.loading import load_model, resolve_attn_implementation
from vlm_ocr.model.loss import answer_token_loss_terms
from vlm_ocr.model.packing import packed_position_ids
from vlm_ocr.model.parameters import set_trainable
from vlm_ocr.prep.demo_pairs import generate_sample_data


@dataclass
class Result:
    name: str
    pages: int
    seconds: float
    tokens: int
    image_tokens: int
    model_flops: float
    peak_memory_gb: float

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds

    def summary(self, peak_flops: float | None) -> dict:
        mfu = self.model_flops / self.seconds / peak_flops if peak_flops else None
        return {
            **asdict(self),
            "pages_per_s": round(self.pages_per_s, 3),
            "tokens_per_s": round(self.tokens / self.seconds, 1),
            "image_tokens_per_s": round(self.image_tokens / self.seconds, 1),
            "text_tokens_per_s": round((self.tokens - self.image_tokens) / self.seconds, 1),
            "mfu": None if mfu is None else round(mfu, 4),
        }


def make_model(mode: str, workdir: Path, attn: str, device: str, decoder_layers: int | None):
    if mode == "cpu":
        folder = make_model_folder(workdir / "tiny", "tiny")
        return load_model(str(folder), "float32", attn), QWEN2_5_VL.build_processor()
    config = build_config("qwen2.5-vl-7b", decoder_layers)  # fewer layers: a quick dry run of the GPU path
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(device):  # built in place in bf16: no slow CPU init, no download
        model = QWEN2_5_VL.load_class()._from_config(config, attn_implementation=resolve_attn_implementation(attn))
    torch.set_default_dtype(torch.float32)
    return model, QWEN2_5_VL.build_processor()


def make_samples(workdir: Path, processor, pages: int, longest_side: int, max_tokens: int) -> list[dict]:
    per_kind = max(1, pages // 5 + 1)
    root = generate_sample_data(workdir / "data", train_per_kind=per_kind, eval_per_kind=0) / "train"
    index = build_index(root, workers=1)
    records = [p for p in index.pages if "rotated" not in p.markdown_path and "blank" not in p.markdown_path]
    steps = [
        ParseFrontMatter(),
        RenderPage(longest_side),
        FormatTarget(),
        BuildMessages(),
        QwenInputs(processor, max_tokens, family=QWEN2_5_VL),
    ]
    dataset = PageDataset("bench", records, steps)
    samples = [dataset[i] for i in range(len(dataset))]
    return [s for s in samples if "dropped" not in s][:pages]


def model_flops(model, samples: list[dict]) -> float:
    """The same FLOP count as training telemetry (vlm_ocr.model.flops)."""
    patches = sum(len(s["pixel_values"]) for s in samples)
    answers = sum(int((s["labels"][1:] != IGNORE_INDEX).sum()) for s in samples)
    return step_flops(model, [len(s["input_ids"]) for s in samples], patches, answers)


def to_device(batch: dict, device: str) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run(
    name: str, model, samples: list[dict], groups: list[list[dict]], loss_fn, accumulate: int, device: str
) -> Result:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start, pages_since_step = time.perf_counter(), 0
    for group in groups:
        loss = loss_fn(group)
        loss.backward()
        pages_since_step += len(group)
        if pages_since_step >= accumulate:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            pages_since_step = 0
    sync(device)
    seconds = time.perf_counter() - start
    optimizer.zero_grad(set_to_none=True)
    del optimizer
    tokens = sum(len(s["input_ids"]) for s in samples)
    image = sum(int(s["image_grid_thw"].prod()) // 4 for s in samples)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0
    return Result(name, len(samples), seconds, tokens, image, model_flops(model, samples), round(peak, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--pages", type=int, default=None, help="pages per variant (cpu 8, gpu 64)")
    parser.add_argument("--accumulate", type=int, default=None, help="pages per optimizer step (cpu 4, gpu 32)")
    parser.add_argument("--pack-tokens", type=int, default=8192)
    parser.add_argument("--device", default=None, help="gpu mode's device (default cuda; cpu for a dry run)")
    parser.add_argument("--decoder-layers", type=int, default=None, help="gpu mode: fewer decoder layers (dry run)")
    parser.add_argument("--longest-side", type=int, default=None, help="render size (cpu 448, gpu 1288)")
    parser.add_argument("--attn", default="auto", help="attention (auto: flash-attention 2, else sdpa_varlen)")
    parser.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute decoder blocks in vlm_ocr's step (also used automatically if it runs out of memory)",
    )
    parser.add_argument(
        "--peak-flops", type=float, default=None, help="peak FLOP/s for MFU (default: the GPU bf16 peak)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    gpu = args.mode == "gpu"
    device = args.device or ("cuda" if gpu else "cpu")
    pages = args.pages or (64 if gpu else 8)
    if device == "cpu":
        torch.set_num_threads(2)
    accumulate = args.accumulate or (32 if gpu else 4)
    peak = args.peak_flops or (peak_flops_for(torch.cuda.get_device_name()) if device == "cuda" else None)
    with tempfile.TemporaryDirectory(prefix="vlm_ocr_train_bench_") as tmp:
        model, processor = make_model(args.mode, Path(tmp), args.attn, device, args.decoder_layers)
        set_trainable(model, vision_tower=False, merger=True, decoder=True)
        model.train()
        samples = make_samples(
            Path(tmp), processor, pages + 2, args.longest_side or (1288 if gpu else 448), args.pack_tokens
        )
        warmup, samples = samples[:2], samples[2:]
        pad = processor.tokenizer.pad_token_id
        one = Collator(pad)

        def olmocr_step(group):  # HF forward with labels: full (tokens x vocabulary) logits
            batch = to_device(one(group), device)
            return model(**model_inputs(batch), labels=batch["labels"], use_cache=False).loss

        pack = PackCollator(pad, args.pack_tokens)

        def vlm_ocr_step(group):  # packed rows, answer-token loss
            batch = to_device(pack(group), device)
            inputs = {
                **model_inputs(batch),
                "use_cache": False,
                "position_ids": packed_position_ids(model.model, batch),
            }
            hidden = model.model(**inputs).last_hidden_state
            return answer_token_loss_terms(
                hidden, model.lm_head, batch["labels"], "page", page_index=batch["page_index"]
            )[0]

        packs = []  # packed within each accumulation group, so both sides take the same optimizer steps
        for first in range(0, len(samples), accumulate):
            group = samples[first : first + accumulate]
            packs.extend(greedy_packs(group, lambda s: len(s["input_ids"]), args.pack_tokens))
        olmocr_step(warmup[:1]).backward()  # warm-up: kernels, allocator, autotuning
        vlm_ocr_step(warmup).backward()
        model.zero_grad(set_to_none=True)
        olmocr = run("olmocr_style", model, samples, [[s] for s in samples], olmocr_step, accumulate, device)
        if args.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        ours = None
        try:
            ours = run("vlm_ocr", model, samples, packs, vlm_ocr_step, accumulate, device)
        except torch.OutOfMemoryError:  # retried outside this block, once the failed run's frames are freed
            if args.gradient_checkpointing:
                raise
            print("vlm_ocr step ran out of memory: measuring it again with gradient checkpointing", flush=True)
        if ours is None:
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            ours = run("vlm_ocr", model, samples, packs, vlm_ocr_step, accumulate, device)
        results = [olmocr, ours]
    report = {
        "mode": args.mode,
        "attn_implementation": model.config._attn_implementation,
        "gradient_checkpointing": model.is_gradient_checkpointing,
        "pages": len(samples),
        "accumulate": accumulate,
        "pack_tokens": args.pack_tokens,
        "packs": len(packs),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "decoder_layers": model.config.text_config.num_hidden_layers,
        "results": [r.summary(peak) for r in results],
        "ratio_pages_per_s": round(results[1].pages_per_s / results[0].pages_per_s, 3),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
