"""torch.compile of the decoder, layer by layer (regional compilation).

Training calls the inner decoder (`model.model`) and the answer-only loss directly, so compiling the outer
...ForConditionalGeneration would never run. Compiling each decoder layer instead covers the work that
dominates a step, compiles one graph that all layers share (their code is the same, their weights are
inputs), and keeps the frozen vision tower, the rope planning and the chunked loss eager.
"""

from __future__ import annotations

from typing import Any

from vlm_ocr.model.families import family_of_model


def compile_decoder_layers(model: Any, dynamic: bool | None = None) -> int:
    """Compile every decoder layer of a model in place (inductor, default mode, not fullgraph).

    Args:
        model: a model of one of the families (or a peft wrapper of one).
        dynamic: False compiles one graph per sequence length (the original recipe's setting; torch stops
            recompiling after its recompile limit and runs the remaining lengths eagerly); None lets torch
            mark the length dynamic after the first change, so later lengths reuse one graph.

    Returns:
        The number of layers compiled.
    """
    layers = family_of_model(model).decoder_layers(model)
    for layer in layers:
        layer.compile(backend="inductor", mode="default", fullgraph=False, dynamic=dynamic)
    return len(layers)
