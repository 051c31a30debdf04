"""Memory of full fine-tuning at the Qwen2.5-VL-7B shape, from what autograd really saves, on a CPU.

    python benchmarks/activation_memory.py --pack-tokens 8192

Builds the 7B shape with random weights but only two decoder layers (and one vision block), runs vlm_ocr's
training forward on a text-only row, and records every tensor autograd saves for backward (weights excluded).
That gives the activation bytes per token per decoder layer, which do not depend on the depth or, with
page-by-page attention, on the row length. It then projects the peak of a training step of the full model
(weights, gradients, optimizer state, activations of one pack) for each optimizer and for gradient
checkpointing, in GiB (the training benchmark's unit), against the 120 GB target and an H200's 139 GiB.
"""

from __future__ import annotations

import argparse
import json

import torch

from vlm_ocr.model.architecture import build_config
from vlm_ocr.model.parameters import set_trainable

GIB = 2**30  # as torch.cuda.max_memory_allocated is reported by the training benchmark
OPTIMIZER_BYTES = {  # optimizer state per trainable parameter, on top of bf16 weights and bf16 gradients
    "torch AdamW, bf16 states (the recipe)": 4,
    "KahanAdamW (fp32 moments + bf16 compensation)": 10,
    "bitsandbytes AdamW8bit": 2,
}


def decoder_layer_activation_bytes(tokens: int) -> tuple[float, int, int]:
    """(saved bytes per token per decoder layer, trainable parameters of the full model, all parameters)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    full = build_config("qwen2.5-vl-7b")
    config = build_config("qwen2.5-vl-7b", decoder_layers=2, vision_depth=1)
    torch.set_default_dtype(torch.bfloat16)
    model = Qwen2_5_VLForConditionalGeneration._from_config(config, attn_implementation="sdpa")
    torch.set_default_dtype(torch.float32)
    set_trainable(model, vision_tower=False, merger=True, decoder=True)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()
    per_layer: list[int] = [0]  # [before the first layer, layer 1, layer 2]

    def record(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights and storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            per_layer[-1] += storage.nbytes()
        return tensor

    def start_layer(*_args) -> None:
        per_layer.append(0)

    for layer in model.model.language_model.layers:
        layer.register_forward_pre_hook(start_layer)
    ids = torch.randint(0, 150_000, (1, tokens))
    with torch.autograd.graph.saved_tensors_hooks(record, lambda tensor: tensor):
        model.model(input_ids=ids, use_cache=False)
    per_token = per_layer[-1] / tokens  # the second layer: nothing of the embedding or the final norm
    layer_params = sum(p.numel() for p in model.model.language_model.layers[0].parameters())
    vision_blocks = sum(p.numel() for p in model.model.visual.blocks.parameters())
    kept = sum(p.numel() for p in model.parameters()) - 2 * layer_params - vision_blocks
    full_vision_blocks = vision_blocks * full.vision_config.depth
    total = kept + full.text_config.num_hidden_layers * layer_params + full_vision_blocks
    trainable = total - full_vision_blocks - sum(p.numel() for p in model.model.visual.patch_embed.parameters())
    return per_token, trainable, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack-tokens", type=int, default=8192)
    parser.add_argument("--probe-tokens", type=int, default=1024, help="row length of the measurement")
    args = parser.parse_args()
    torch.set_num_threads(2)
    per_token, trainable, total = decoder_layer_activation_bytes(args.probe_tokens)
    layers, hidden = 28, 3584
    activations = per_token * layers * args.pack_tokens
    checkpointed = 2 * hidden * layers * args.pack_tokens + per_token * args.pack_tokens  # block inputs + one block
    logits_chunk = 2048 * 152_064 * (4 + 2 + 4)  # loss chunk: bf16 logits, fp32 copy, fp32 gradient
    base = 2 * total + 2 * trainable  # bf16 weights of everything + bf16 gradients of what trains
    projections = {}
    for optimizer, state in OPTIMIZER_BYTES.items():
        states = base + state * trainable
        projections[optimizer] = {
            "weights_grads_states_gib": round(states / GIB, 1),
            "peak_gib": round((states + activations + logits_chunk) / GIB, 1),
            "peak_gib_gradient_checkpointing": round((states + checkpointed + logits_chunk) / GIB, 1),
        }
    report = {
        "activation_kb_per_token_per_layer": round(per_token / 1024, 1),
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
