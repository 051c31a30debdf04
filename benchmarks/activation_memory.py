"""Memory of full fine-tuning at a released shape (default Qwen2.5-VL-7B), from what autograd really saves, on a CPU.

    python benchmarks/activation_memory.py --pack-tokens 8192 [--preset qwen3-vl-8b]

Writes the preset's shape with random weights but only three decoder layers (and one vision block) as a Hugging
Face folder, and trains it the way a run does: `VlmOcrModule` loads it with `from_pretrained`, a Lightning Trainer
(`bf16-true`) fits it on one text-only row, once without and once with `model.gradient_checkpointing`. In the first
step's forward it records every tensor autograd saves for backward plus what each decoder layer's activation
checkpoint keeps (the layer's inputs), weights excluded, then stops the fit before backward. That gives the bytes
per token per decoder layer kept until backward (the second layer; for a hybrid family the second and third are one
of each kind, weighted by how many of each the full model has), which do not depend on the depth or, with
page-by-page attention, on the row length; with checkpointing working, a layer keeps only its input. It then
projects the peak of a training step of the full model (weights, gradients, optimizer state, activations of one
pack, one decoder layer recomputed in backward) for each optimizer, with and without checkpointing, in GiB (the
training benchmark's unit), against the 120 GB target and an H200's 139 GiB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import lightning as L
import torch

from vlm_ocr.model.architecture import build_config
from vlm_ocr.model.families import PRESETS
from vlm_ocr.model.module import VlmOcrModule

GIB = 2**30  # as torch.cuda.max_memory_allocated is reported by the training benchmark
OPTIMIZER_BYTES = {  # optimizer state per trainable parameter, on top of bf16 weights and bf16 gradients
    "torch AdamW, bf16 states (the original; overlays/olmocr-adamw.yaml)": 4,
    "Bf16AdamW, stochastic weights, bf16 moments (overlays/one-80gb-gpu.yaml)": 4,
    "Bf16AdamW, Kahan weights, bf16 moments (the recipe; bf16 states + bf16 compensation)": 6,
    "Bf16AdamW, Kahan weights, float32 moments": 10,
    "bitsandbytes AdamW8bit": 2,
}
CARDS_GB = {"80 GB": 80, "141 GB": 141, "180 GB": 180}  # nominal memory of one H100/A100 80GB, H200, B200
ANSWER_TOKENS = 16


class ForwardMeasured(Exception):
    """Stops the fit once the first forward is measured (backward and the optimizer step are not needed)."""


class SavedBytesPerLayer(L.Callback):
    """Bytes kept for backward by the first training step's forward: [before the first decoder layer, layer 1, ...,
    the final norm and the loss].

    Counts each storage once: tensors autograd saves and, per decoder layer, the inputs its activation checkpoint
    holds for the recomputation (with checkpointing, the layer's own saves go to the checkpoint and are dropped).
    """

    def __init__(self):
        self.per_layer: list[int] = [0]
        self._seen: set[int] = set()
        self._weights: set[int] = set()
        self._saving = None

    def _count(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self._weights and storage.data_ptr() not in self._seen:
            self._seen.add(storage.data_ptr())
            self.per_layer[-1] += storage.nbytes()
        return tensor

    def _start_layer(self, _layer, args, kwargs) -> None:
        self.per_layer.append(0)
        for value in [*args, *kwargs.values()]:
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                self._count(value)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._weights = {p.untyped_storage().data_ptr() for p in pl_module.parameters()}
        decoder = pl_module.model.get_decoder()
        for layer in [*decoder.layers, decoder.norm]:  # the final norm and the loss get their own bucket
            layer.register_forward_pre_hook(self._start_layer, with_kwargs=True)
        self._saving = torch.autograd.graph.saved_tensors_hooks(self._count, lambda tensor: tensor)
        self._saving.__enter__()

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        self._saving.__exit__(None, None, None)
        raise ForwardMeasured


def text_row(tokens: int) -> dict:
    """One unpacked text-only row as the collator makes it, the last ANSWER_TOKENS tokens being the answer."""
    ids = torch.randint(0, 150_000, (1, tokens))
    labels = torch.full_like(ids, -100)
    labels[:, -ANSWER_TOKENS:] = ids[:, -ANSWER_TOKENS:]
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "image_grid_thw": torch.zeros(0, 3, dtype=torch.long),
        "mm_token_type_ids": torch.zeros_like(ids),  # as the processor marks a row without image tokens
        "num_pages": 1,
        "dropped": [],
        "truncated": 0,
    }


def saved_bytes_per_token_per_layer(folder: Path, tokens: int, checkpointing: bool) -> tuple[float, float]:
    """Measured through VlmOcrModule in a bf16-true Trainer.fit, on the second and third layers: nothing of the
    embedding, the rotary tables or the final norm."""
    meter = SavedBytesPerLayer()
    module = VlmOcrModule(str(folder), dtype="bfloat16", gradient_checkpointing=checkpointing)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        precision="bf16-true",
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[meter],
    )
    loader = torch.utils.data.DataLoader([text_row(tokens)], batch_size=None)
    try:
        trainer.fit(module, train_dataloaders=loader)
    except ForwardMeasured:
        pass
    assert len(meter.per_layer) == 5, "the forward did not reach the three decoder layers and the final norm"
    return meter.per_layer[2] / tokens, meter.per_layer[3] / tokens


PROBE_LAYERS = 3  # the second and third are measured (a hybrid family's probe has one of each kind there)


def layer_kinds(config) -> list[str]:
    text = config.text_config
    return list(getattr(text, "layer_types", None) or ["full_attention"] * text.num_hidden_layers)


def write_probe_model(folder: Path, preset: str) -> tuple[int, int, list[str], list[str]]:
    """Save the preset's shape with PROBE_LAYERS decoder layers and one vision block. Returns (trainable, all)
    parameters of the full model with the vision tower frozen (counted on the meta device), the full model's decoder
    layer kinds and the probe's."""
    family = PRESETS[preset]
    full = build_config(preset)
    config = build_config(preset, decoder_layers=PROBE_LAYERS, vision_depth=1)
    with torch.device("meta"):
        whole = family.load_class()._from_config(full)
    numel = {name: p.numel() for name, p in whole.named_parameters()}
    total, vision = sum(numel.values()), sum(numel[name] for name in family.parts(whole)["vision"])
    torch.set_default_dtype(torch.bfloat16)
    model = family.load_class()._from_config(config)
    torch.set_default_dtype(torch.float32)
    model.save_pretrained(folder)
    return total - vision, total, layer_kinds(full), layer_kinds(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack-tokens", type=int, default=8192)
    parser.add_argument("--probe-tokens", type=int, default=1024, help="row length of the measurement")
    help_text = "the released shape to project (a tiny preset: a quick run of the script, not a projection to read)"
    parser.add_argument("--preset", default="qwen2.5-vl-7b", choices=sorted(PRESETS), help=help_text)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        trainable, total, kinds, probe_kinds = write_probe_model(Path(tmp), args.preset)
        measured = saved_bytes_per_token_per_layer(Path(tmp), args.probe_tokens, checkpointing=False)
        measured_kept = saved_bytes_per_token_per_layer(Path(tmp), args.probe_tokens, checkpointing=True)
    # per kind of layer: the second layer's figure, the third's for a kind only it has
    by_kind = {kind: value for kind, value in reversed(list(zip(probe_kinds[1:], measured, strict=True)))}
    by_kind_kept = {kind: value for kind, value in reversed(list(zip(probe_kinds[1:], measured_kept, strict=True)))}
    layers = len(kinds)
    per_token = sum(by_kind[kind] for kind in kinds) / layers  # the mean over the full model's layers
    per_token_kept = sum(by_kind_kept[kind] for kind in kinds) / layers
    activations = per_token * layers * args.pack_tokens
    checkpointed = (per_token_kept * layers + max(by_kind.values())) * args.pack_tokens  # kept + one recomputed
    vocab = build_config(args.preset).text_config.vocab_size
    logits_chunk = 2048 * vocab * (4 + 2 + 4)  # loss chunk: bf16 logits, fp32 copy, fp32 gradient
    base = 2 * total + 2 * trainable  # bf16 weights of everything + bf16 gradients of what trains
    projections = {}
    for optimizer, state in OPTIMIZER_BYTES.items():
        states = base + state * trainable
        projections[optimizer] = {
            "weights_grads_states_gib": round(states / GIB, 1),
            "peak_gib": round((states + activations + logits_chunk) / GIB, 1),
            "peak_gib_gradient_checkpointing": round((states + checkpointed + logits_chunk) / GIB, 1),
            "free_gb_gradient_checkpointing": {  # nominal card memory minus the projected peak, in GB (1e9 bytes)
                card: round(size - (states + checkpointed + logits_chunk) / 1e9, 1) for card, size in CARDS_GB.items()
            },
        }
    report = {
        "preset": args.preset,
        "activation_kb_per_token_per_layer_by_kind": {kind: round(v / 1024, 1) for kind, v in by_kind.items()},
        "activation_kb_per_token_per_layer": round(per_token / 1024, 1),
        "activation_kb_per_token_per_layer_gradient_checkpointing": round(per_token_kept / 1024, 1),
        "parameters_b": round(total / 1e9, 2),
        "trainable_parameters_b": round(trainable / 1e9, 2),
        "pack_tokens": args.pack_tokens,
        "activations_gib": round(activations / GIB, 1),
        "activations_gib_gradient_checkpointing": round(checkpointed / GIB, 1),
        "projected": projections,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
