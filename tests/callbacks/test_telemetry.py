import pytest
import torch
from tiny_setup import datamodule, module, trainer

from vlm_ocr.callbacks import Telemetry
from vlm_ocr.model.flops import batch_page_lengths, peak_flops_for, step_flops
from vlm_ocr.model.parameters import set_trainable


class Capture(Telemetry):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.logged = []

    def _log(self, pl_module):
        elapsed = self._wait + self._busy
        self.logged.append((self._wait / elapsed, self._flops, elapsed))
        super()._log(pl_module)


def test_telemetry_counts_flops_and_data_wait(tmp_path, tiny_vlm_dir, sample_data_dir):
    telemetry = Capture(peak_flops=1e12, log_every_n_steps=2)
    system = module(tiny_vlm_dir)
    data = datamodule(tiny_vlm_dir, sample_data_dir)
    trainer(tmp_path, max_steps=4, callbacks=[telemetry]).fit(system, data)
    assert len(telemetry.logged) == 2
    for wait_share, flops, elapsed in telemetry.logged:
        assert 0.0 <= wait_share < 1.0 and flops > 0 and elapsed > 0
    batch = data.train_dataloader().collate_fn([data.train_set[(0, 0)]])
    patches = int(batch["image_grid_thw"].prod(-1).sum())
    answers = int((batch["labels"][:, 1:] != -100).sum())
    one_page = step_flops(system.model, batch_page_lengths(batch), patches, answers)
    assert one_page == pytest.approx(telemetry.logged[0][1] / 2, rel=0.5)  # two pages of similar size per log


def test_flops_formula_and_peak_table(tiny_vlm_dir):
    system = module(tiny_vlm_dir)
    system.configure_model()
    model = system.model
    config = model.config.text_config
    layers = sum(p.numel() for p in model.model.language_model.layers.parameters())
    decoder = layers + model.model.language_model.norm.weight.numel()
    head = model.lm_head.weight.numel()
    vision = sum(p.numel() for p in model.model.visual.parameters())
    merger = sum(p.numel() for p in model.model.visual.merger.parameters())  # the only trainable vision part
    attention = 6 * config.num_hidden_layers * config.hidden_size * (60**2 + 40**2)
    expected = 6 * decoder * 100 + 6 * head * 30 + attention + (2 * vision + 4 * merger) * 64
    assert step_flops(model, [60, 40], 64, answer_tokens=30) == pytest.approx(expected)
    full_head = step_flops(model, [60, 40], 64)  # without answer counts lm_head runs on every token
    assert full_head - expected == pytest.approx(6 * head * 70)
    set_trainable(model, vision_tower=False, merger=False, decoder=False)
    for p in model.lm_head.parameters():
        p.requires_grad_(False)
    frozen = 4 * decoder * 100 + 4 * head * 30 + attention + 2 * vision * 64  # forward and input gradients only
    assert step_flops(model, [60, 40], 64, answer_tokens=30) == pytest.approx(frozen)
    assert peak_flops_for("NVIDIA H200") == 989e12 and peak_flops_for("cpu") is None
    assert batch_page_lengths({"page_lengths": [[3, 4], [5]]}) == [3, 4, 5]
    assert batch_page_lengths({"attention_mask": torch.tensor([[1, 1, 0], [1, 1, 1]])}) == [2, 3]


def test_liger_option_fails_clearly_without_the_package(tiny_vlm_dir):
    import importlib.util

    if importlib.util.find_spec("liger_kernel") is not None:
        pytest.skip("liger-kernel is installed")
    system = module(tiny_vlm_dir, liger_kernels=True)
    with pytest.raises(RuntimeError, match="pip install liger-kernel"):
        system.configure_model()
