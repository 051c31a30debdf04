"""`python -m vlm_ocr export CKPT... --out DIR`: a servable Hugging Face folder from training checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from vlm_ocr.export.parity import ParitySpec
from vlm_ocr.export.run import export_model
from vlm_ocr.model.loading import DTypeName


def export(
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
) -> int:
    """Export checkpoints (Lightning .ckpt, sharded checkpoint folder, peft adapter or HF folder) as a Hugging Face
    folder: LoRA merged, several checkpoints averaged (soup), optionally FP8, kept only if the parity check against
    the source passes. The options are export_model's, with `--out` a flag.

    Args:
        checkpoints: checkpoints to export; more than one are souped.
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
    result = export_model(**locals())  # its errors are bad input: vlm_ocr.cli.bad_input_errors
    report = result.parity
    generation = "identical" if report.exact else f"equal over the decisive steps {report.decisive_steps}"
    print(
        f"{result.out}\nparity: max |logit diff| {report.max_abs_diff:.4g} (bound {report.bound:.4g}, "
        f"max |logit| {report.max_abs_logit:.4g}), top-1 agreement {report.top1_agreement:.4f}, "
        f"greedy tokens {generation}"
    )
    return 0
