"""export_model: checkpoints -> (merged, souped, quantized) Hugging Face folder that passed its parity check."""

from __future__ import annotations

import gc
import json
import logging
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import torch

from vlm_ocr.data.processor import load_processor
from vlm_ocr.errors import UsageError
from vlm_ocr.export.checkpoints import detect_kind, read_checkpoint
from vlm_ocr.export.folder import check_target, staged_folder
from vlm_ocr.export.fp8 import quantize_fp8, write_fp8_config
from vlm_ocr.export.parity import ParityReport, ParitySpec, compare, run_pages
from vlm_ocr.export.probe_pages import generated_pages, page_prompts, pdf_pages
from vlm_ocr.export.serving import write_serving_files
from vlm_ocr.export.soup import soup
from vlm_ocr.export.vllm_check import check_vllm
from vlm_ocr.export.weights import build_model, resolve_base
from vlm_ocr.model.generate import end_token_ids
from vlm_ocr.model.loading import DTypeName, load_model

logger = logging.getLogger(__name__)


class ParityError(UsageError, RuntimeError):
    """The exported folder does not reproduce the source model; nothing was written."""

    def __init__(self, report: ParityReport):
        self.report = report
        super().__init__(f"parity check failed: {report.reason}")


@dataclass
class ExportResult:
    """Where the folder went and the parity figures it passed with."""

    out: Path
    parity: ParityReport


def export_model(
    checkpoints: list[str],
    *,
    out: Path,
    base: str | None = None,
    dtype: DTypeName = "bfloat16",
    quantize: Literal["none", "fp8"] = "none",
    calibration_pdfs: list[str] | None = None,
    calibration_pages: int = 32,
    parity: ParitySpec | None = None,
    device: str = "auto",
    overwrite: bool = False,
    vllm_check: bool = False,
    max_shard_size: str = "5GB",
) -> ExportResult:
    """Export checkpoints (Lightning .ckpt, sharded checkpoint folder, peft adapter or HF folder) as a Hugging Face
    folder (config, safetensors shards, processor, chat template, generation config): LoRA merged, several
    checkpoints averaged (soup), optionally FP8, kept only if the parity check against the source passes.

    Args:
        checkpoints: Lightning .ckpt files, sharded checkpoint folders, peft adapter folders or HF folders;
            LoRA adapters are merged; several are averaged into one model (a soup).
        out: output folder; refused when it exists unless `overwrite`.
        base: model folder or hub id the checkpoints were trained from; default: the one they record.
        dtype: dtype of the written weights (and of FP8's unquantized parts and scales).
        quantize: `fp8`: W8A8 FP8 (compressed-tensors, float-quantized) of the language model; the vision
            tower and lm_head stay in `dtype`.
        calibration_pdfs: with fp8, PDFs (files or folders) whose pages, rendered like the parity pages, set
            static per-tensor activation scales; without them activations are quantized dynamically per token.
        calibration_pages: most calibration pages used.
        parity: the check against the source model that decides whether the export is kept.
        device: `auto` (cuda when available), `cpu`, `cuda`, `cuda:1`, ...
        overwrite: replace an existing `out`.
        vllm_check: also load the folder in vLLM and generate (needs vllm and a GPU).
        max_shard_size: largest safetensors shard.
    """
    parity = parity or ParitySpec()
    out = Path(out)
    check_target(out, overwrite)
    if calibration_pdfs and quantize != "fp8":
        raise ValueError("calibration_pdfs only applies with --quantize fp8")
    paths = [Path(c) for c in checkpoints]
    if not paths:
        raise ValueError("give at least one checkpoint")
    kinds = [detect_kind(p) for p in paths]  # missing or unknown inputs fail before any loading
    target = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)

    first = read_checkpoint(paths[0])
    base_path = resolve_base(first, base)
    settings = first.inference
    if len(paths) == 1:
        model = build_model(first, base, dtype)
    else:
        del first  # soup reads each checkpoint in turn
        model = soup(paths, lambda checkpoint: build_model(checkpoint, base, dtype))
    model.to(target)
    processor = load_processor(base_path)
    if parity.pdfs:
        images = pdf_pages(parity.pdfs, parity.longest_side, parity.pages)
    else:
        images = generated_pages(parity.longest_side, parity.pages)
    prompts = page_prompts(processor, images)
    end_ids = end_token_ids(model, processor.tokenizer)
    reference = run_pages(model, prompts, parity.new_tokens, end_ids)

    compressor = None
    if quantize == "fp8":
        calibration = None
        if calibration_pdfs:
            calibration = page_prompts(processor, pdf_pages(calibration_pdfs, parity.longest_side, calibration_pages))
        compressor = quantize_fp8(model, calibration)

    with staged_folder(out, overwrite) as staging:
        model.save_pretrained(staging, max_shard_size=max_shard_size)
        processor.save_pretrained(staging)
        write_serving_files(staging, processor, settings, model)
        if compressor is not None:
            write_fp8_config(compressor, staging)
        del model
        _free(target)
        exported = load_model(str(staging), dtype, "sdpa").to(target)
        report = compare(reference, run_pages(exported, prompts, parity.new_tokens, end_ids), _bound(quantize, parity))
        logger.info("parity: %s", {k: v for k, v in asdict(report).items() if not k.startswith("tokens")})
        if not report.passed:
            raise ParityError(report)
        del exported
        _free(target)
        if vllm_check:
            check_vllm(staging, processor, images[0], parity.new_tokens)
        meta = _meta(paths, kinds, base_path, dtype, quantize, compressor, calibration_pdfs, report)
        (staging / "export_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    logger.info("exported %s", out)
    return ExportResult(out, report)


def _bound(quantize: str, parity: ParitySpec) -> float | None:
    return parity.fp8_bound if quantize == "fp8" else None


def _free(device: torch.device) -> None:
    """Give a deleted model's memory back to the GPU; on the CPU dropping the last reference already freed it."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def _meta(paths, kinds, base, dtype, quantize, compressor, calibration_pdfs, report) -> dict[str, Any]:
    """Provenance written beside the weights as export_meta.json."""
    versions = {}
    for package in ("torch", "transformers", "peft", "compressed-tensors"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    quantization = None
    if compressor is not None:
        activations = "static per-tensor (calibrated)" if calibration_pdfs else "dynamic per-token"
        quantization = {"scheme": "FP8 W8A8", "weights": "static per-channel", "activations": activations}
    return {
        "sources": [{"path": str(p.absolute()), "kind": k} for p, k in zip(paths, kinds, strict=True)],
        "souped": len(paths) > 1,
        "base": base,
        "dtype": dtype,
        "quantization": quantization,
        "parity": asdict(report),
        "versions": versions,
    }
