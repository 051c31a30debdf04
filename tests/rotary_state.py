"""The rotary buffers of a model as the tests check them: float32 and equal to a fresh computation."""

import lightning as L
import torch

from vlm_ocr.model.rotary import FREQUENCY_BUFFERS, fresh_frequencies, rotary_modules

FLOAT32_AND_FRESH = (torch.float32, True)


def frequencies_state(model: torch.nn.Module) -> dict[str, tuple[torch.dtype, bool]]:
    """Per rotary buffer: its dtype and whether it equals the float32 computation from the model's config."""
    state = {}
    modules = rotary_modules(model)
    for name, module in model.named_modules():
        if module in modules:
            fresh = fresh_frequencies(module)
            for buffer in FREQUENCY_BUFFERS:
                value = getattr(module, buffer)
                state[f"{name}.{buffer}"] = (value.dtype, torch.equal(value.cpu(), fresh))
    return state


class FrequencyRecorder(L.Callback):
    """The rotary buffers as each training step sees them (after the strategy and precision set the model up)."""

    def __init__(self):
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen.append(frequencies_state(pl_module.model))
