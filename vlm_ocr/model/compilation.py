"""torch.compile of the decoder, layer by layer (regional compilation), and a watch on torch's recompile limit.

Training calls the inner decoder (`model.model`) and the answer-only loss directly, so compiling the outer
...ForConditionalGeneration would never run. Compiling each decoder layer instead covers the work that
dominates a step, compiles one graph that all layers share (their code is the same, their weights are
inputs), and keeps the frozen vision tower, the rope planning and the chunked loss eager.
"""

from __future__ import annotations

from typing import Any

from vlm_ocr.model.families import family_of_model

RECOMPILE_LIMIT_HIT = "Dynamo recompile limit exceeded"  # how torch counts the hits (torch._dynamo.utils.counters)


def compile_decoder_layers(model: Any, dynamic: bool | None = None, backend: str = "inductor") -> int:
    """Compile every decoder layer of a model in place (default mode, not fullgraph).

    Args:
        model: a model of one of the families (or a peft wrapper of one).
        dynamic: None lets torch mark the length dynamic after the first change, so every later length reuses
            one graph (the recipe's setting); False compiles one graph per sequence length, and once torch's
            recompile limit (8) is reached it runs the layers eagerly for every new length, with only a log line.
        backend: torch.compile's backend (inductor; `eager` traces the same graphs without compiling them).

    Returns:
        The number of layers compiled.
    """
    layers = family_of_model(model).decoder_layers(model)
    for layer in layers:
        layer.compile(backend=backend, mode="default" if backend == "inductor" else None, dynamic=dynamic)
    return len(layers)


def recompile_limit_hits() -> int:
    """How many times this process's torch.compile'd code has hit the recompile limit and gone eager."""
    from torch._dynamo.utils import counters

    return sum(n for reason, n in counters["unimplemented"].items() if reason.startswith(RECOMPILE_LIMIT_HIT))


class RecompileWatch:
    """Turns a new hit of torch's recompile limit into one message that says what it costs and what to do."""

    def __init__(self):
        self.seen = recompile_limit_hits()

    def news(self) -> str | None:
        hits = recompile_limit_hits()
        if hits <= self.seen:
            return None
        self.seen = hits
        from torch._dynamo import config

        return (
            f"torch.compile hit its recompile limit (torch._dynamo.config.recompile_limit = {config.recompile_limit}): "
            "the decoder layers now run eagerly for every new shape, for the rest of the run. Set "
            "model.compile_dynamic: null (one dynamic graph for all page lengths), or raise the limit"
        )
