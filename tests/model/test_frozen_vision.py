"""The frozen vision tower keeps nothing for backward: autograd saves no tensor while its blocks run."""

import torch
from tiny_setup import datamodule, module

from vlm_ocr.model.generate import model_inputs


def saved_bytes_by_part(system, batch) -> dict[str, int]:
    """Bytes of the tensors autograd saves for backward, by the part of the model that was running."""
    model = system.model
    parts = {
        "vision blocks": list(model.model.visual.blocks),
        "merger": [model.model.visual.merger],
        "decoder": list(model.model.language_model.layers),
    }
    running: list[str] = []
    saved = dict.fromkeys(parts, 0)

    def leave(*_) -> None:
        running.pop()

    for name, modules in parts.items():
        for part in modules:
            part.register_forward_pre_hook(lambda *_, name=name: running.append(name) and None)
            part.register_forward_hook(leave)

    def record(tensor):
        if running:
            saved[running[-1]] += tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(record, lambda tensor: tensor):
        model.model(**{**model_inputs(batch), "use_cache": False})
    return saved


def test_frozen_vision_blocks_store_no_activations(tiny_vlm_dir, sample_data_dir):
    data = datamodule(tiny_vlm_dir, sample_data_dir)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    frozen = module(tiny_vlm_dir)
    frozen.configure_model()
    saved = saved_bytes_by_part(frozen, batch)
    assert saved["vision blocks"] == 0
    assert saved["merger"] > 0 and saved["decoder"] > 0  # the probe sees what trains
    trained = module(tiny_vlm_dir, train_vision_tower=True)
    trained.configure_model()
    assert saved_bytes_by_part(trained, batch)["vision blocks"] > 0  # and would see the tower if it trained
