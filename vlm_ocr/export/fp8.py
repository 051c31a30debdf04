"""FP8 W8A8 in the compressed-tensors `float-quantized` format that vLLM serves (and transformers reloads).

Every Linear of the language model gets float8_e4m3fn weights with a static per-output-channel scale
(absmax / 448). Activations are quantized per token at run time (dynamic); with calibration pages they
get one static per-tensor scale each instead. What the family lists in `fp8_ignore` stays in the model dtype: the
vision tower (with its mergers), lm_head, and for hybrid families the linear attention's gate projections.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from vlm_ocr.model.families import family_of_model

logger = logging.getLogger(__name__)


def fp8_ignore(model: Any) -> list[str]:
    """Modules left unquantized, named both as transformers' modules and as vLLM's (which maps checkpoint names)."""
    return list(family_of_model(model).fp8_ignore)


def fp8_scheme(static_activations: bool) -> Any:
    from compressed_tensors.quantization import QuantizationArgs, preset_name_to_scheme

    scheme = preset_name_to_scheme("FP8_DYNAMIC", ["Linear"])
    if static_activations:
        scheme.input_activations = QuantizationArgs(
            num_bits=8, type="float", strategy="tensor", symmetric=True, dynamic=False
        )
    return scheme


def quantized_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if getattr(m, "quantization_scheme", None) is not None]


@torch.no_grad()
def activation_absmax(model: Any, modules: list[tuple[str, torch.nn.Module]], prompts: list[dict]) -> dict[str, float]:
    """Largest |input| each module sees over the calibration pages (quantization switched off meanwhile)."""
    maxima = dict.fromkeys((name for name, _ in modules), 0.0)
    hooks = []
    for name, module in modules:
        module.quantization_enabled = False

        def record(_module: torch.nn.Module, args: tuple, name: str = name) -> None:
            maxima[name] = max(maxima[name], float(args[0].abs().max()))

        hooks.append(module.register_forward_pre_hook(record))
    try:
        for prompt in prompts:
            model(**{k: v.to(model.device) for k, v in prompt.items()})
    finally:
        for hook in hooks:
            hook.remove()
        for _, module in modules:
            module.quantization_enabled = True
    return maxima


@torch.no_grad()
def quantize_fp8(model: Any, calibration: list[dict] | None = None) -> Any:
    """Quantize `model` in place to FP8 W8A8 and return the compressor whose `update_config` writes the format.

    Args:
        model: a plain (merged) model of any family; its weights become float8_e4m3fn.
        calibration: page prompts for static activation scales; None keeps activations dynamic per token.
    """
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import QuantizationConfig, apply_quantization_config
    from compressed_tensors.quantization.utils import calculate_qparams

    scheme = fp8_scheme(static_activations=calibration is not None)
    ignore = fp8_ignore(model)
    config = QuantizationConfig(config_groups={"group_0": scheme}, ignore=ignore)
    apply_quantization_config(model, config, show_progress=False)
    modules = quantized_modules(model)
    maxima = activation_absmax(model, modules, calibration) if calibration else {}
    for name, module in modules:
        weight = module.weight
        scale, _ = calculate_qparams(weight.amin(1, keepdim=True), weight.amax(1, keepdim=True), scheme.weights)
        module.weight_scale.copy_(scale)  # (out_features, 1)
        if name in maxima:
            peak = torch.tensor([maxima[name]], device=weight.device, dtype=weight.dtype)
            module.input_scale.copy_(calculate_qparams(-peak, peak, scheme.input_activations)[0])
    compressor = ModelCompressor.from_pretrained_model(model, "float-quantized")
    compressor.compress_model(model)
    # compressed-tensors lists ignored layers under checkpoint names that transformers' loader would not match
    compressor.quantization_config.ignore = ignore
    logger.info("FP8: %d Linear layers quantized (%s activations)", len(modules), "static" if maxima else "dynamic")
    return compressor


def write_fp8_config(compressor: Any, folder: Path) -> None:
    """Add `quantization_config` (quant_method compressed-tensors, format float-quantized) to folder/config.json."""
    compressor.update_config(str(folder))
