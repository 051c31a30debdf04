import lightning as L
import pytest
import torch
from tiny_setup import datamodule, module, trainer

from vlm_ocr.data import PageDataModule


class LrRecorder(L.Callback):
    def __init__(self):
        self.lrs, self.losses = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def test_frozen_parameters_stay_and_trainable_ones_move(tmp_path, tiny_vlm_dir, sample_data_dir):
    system = module(tiny_vlm_dir)
    system.configure_model()
    before = {n: p.detach().clone() for n, p in system.model.named_parameters()}
    trainer(tmp_path, max_steps=3).fit(system, datamodule(tiny_vlm_dir, sample_data_dir))
    after = dict(system.model.named_parameters())
    frozen = [n for n in before if n.startswith("model.visual.") and ".merger." not in n]
    trainable = [n for n in before if n not in frozen]
    assert frozen and all(torch.equal(before[n], after[n]) for n in frozen)
    changed = [n for n in trainable if not torch.equal(before[n], after[n])]
    assert "lm_head.weight" in changed and any(".merger." in n for n in changed)
    assert "model.language_model.layers.0.self_attn.q_proj.weight" in changed


def test_linear_warmup_from_the_real_number_of_optimizer_steps(tmp_path, tiny_vlm_dir, sample_data_dir):
    recorder = LrRecorder()
    system = module(tiny_vlm_dir, lr=1e-3, warmup_ratio=0.5, lr_scheduler="linear")
    trainer(tmp_path, max_steps=4, callbacks=[recorder]).fit(system, datamodule(tiny_vlm_dir, sample_data_dir))
    assert recorder.lrs == pytest.approx([0.0, 0.5e-3, 1e-3, 0.5e-3])


def test_warmup_steps_round_down_as_the_original(tmp_path, tiny_vlm_dir, sample_data_dir):
    recorder = LrRecorder()
    system = module(tiny_vlm_dir, lr=1e-3, warmup_ratio=0.3, lr_scheduler="linear")
    trainer(tmp_path, max_steps=5, callbacks=[recorder]).fit(system, datamodule(tiny_vlm_dir, sample_data_dir))
    # olmOCR: int(5 x 0.3) = 1 warmup step (rounding up would make it 2: 0, 0.5e-3, 1e-3, ...)
    assert recorder.lrs == pytest.approx([0.0, 1e-3, 0.75e-3, 0.5e-3, 0.25e-3])


def test_accumulation_counts_optimizer_steps(tmp_path, tiny_vlm_dir, sample_data_dir):
    recorder = LrRecorder()
    system = module(tiny_vlm_dir, lr=1e-3, warmup_ratio=0.5)
    fit = trainer(tmp_path, max_epochs=2, accumulate_grad_batches=2, callbacks=[recorder])
    fit.fit(system, datamodule(tiny_vlm_dir, sample_data_dir))
    # 2 pages per epoch, accumulation 2 -> 1 optimizer step per epoch, 2 in all: warmup of 1 step
    assert fit.global_step == 2 and fit.estimated_stepping_batches == 2
    assert recorder.lrs == pytest.approx([0.0, 0.0, 1e-3, 1e-3])
    assert system.samples_seen == 4


@pytest.mark.slow  # about 1-2 minutes on 2 cores
def test_loss_falls_well_below_its_start_on_repeated_pages(tmp_path, tiny_vlm_dir, sample_data_dir):
    recorder = LrRecorder()
    system = module(tiny_vlm_dir, lr=1e-2, warmup_ratio=0.1)
    trainer(tmp_path, max_steps=30, callbacks=[recorder]).fit(system, datamodule(tiny_vlm_dir, sample_data_dir))
    start, end = recorder.losses[0], sum(recorder.losses[-4:]) / 4
    assert start > 11.0  # ln(152064) = 11.93 at random init
    assert end < 0.6 * start


def test_dropped_samples_are_counted_not_trained_on(tmp_path, tiny_vlm_dir, sample_data_dir):
    system = module(tiny_vlm_dir)
    system.configure_model()
    before = {n: p.detach().clone() for n, p in system.model.named_parameters()}
    trainer(tmp_path, max_epochs=1).fit(system, datamodule(tiny_vlm_dir, sample_data_dir, train="train/rotated"))
    assert system.dropped == {"FilterRotated": 2}
    assert system.samples_seen == 0
    assert all(torch.equal(before[n], p) for n, p in system.model.named_parameters())


class DecoderLayerCalls(L.Callback):
    """Counts the decoder layers' MLP calls within each training batch (forward, backward and optimizer step): one per
    layer, two with gradient checkpointing (transformers checkpoints a layer's forward, so the MLP runs again in
    backward while the layer's own hooks do not); notes the mode the layers train in."""

    def __init__(self):
        self.per_batch, self.modes, self._calls = [], set(), None

    def on_train_start(self, trainer, pl_module):
        for layer in pl_module.model.model.language_model.layers:
            layer.mlp.register_forward_pre_hook(self._count)

    def _count(self, *_):
        if self._calls is not None:
            self._calls += 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        model = pl_module.model.model
        self.modes.add((model.language_model.layers[0].training, model.visual.merger.training))
        self._calls = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.per_batch.append(self._calls)
        self._calls = None


def test_fit_trains_in_train_mode_and_checkpointing_recomputes_every_decoder_layer(
    tmp_path, tiny_vlm_dir, sample_data_dir
):
    weights = []
    for checkpointing in (False, True):
        calls = DecoderLayerCalls()
        system = module(tiny_vlm_dir, gradient_checkpointing=checkpointing)
        trainer(tmp_path, max_steps=2, callbacks=[calls]).fit(system, datamodule(tiny_vlm_dir, sample_data_dir))
        layers = len(system.model.model.language_model.layers)
        assert calls.modes == {(True, True)}  # decoder and merger in train mode inside training_step
        assert calls.per_batch == [layers * (2 if checkpointing else 1)] * 2
        weights.append({n: p.detach().clone() for n, p in system.model.named_parameters()})
    for name, value in weights[0].items():  # recomputation trains exactly the same weights
        torch.testing.assert_close(weights[1][name], value, rtol=1e-5, atol=1e-6)


def test_too_much_bad_data_fails_loudly(tmp_path, tiny_vlm_dir, pair_copy):
    from vlm_ocr.data.bad_files import TooMuchBadData

    root, add = pair_copy
    add("broken.md", "no front matter")
    add("broken.pdf", b"%PDF nope")
    data = PageDataModule(str(tiny_vlm_dir), train_roots=[str(root)], max_bad_fraction=0.2, report_dir=str(tmp_path))
    with pytest.raises(TooMuchBadData, match=r"1 of 3 files are bad .*broken.md: no front matter"):
        data.setup("fit")
    report = (tmp_path / "data_report_tree.jsonl").read_text()
    assert '"reason": "no front matter: the file must start with a \'---\' line"' in report
    PageDataModule(str(tiny_vlm_dir), train_roots=[str(root)], max_bad_fraction=0.5).setup("fit")


def test_training_loss_is_the_models_own_loss_with_multimodal_positions(tiny_vlm_dir, sample_data_dir):
    from vlm_ocr.model.generate import model_inputs

    data = datamodule(tiny_vlm_dir, sample_data_dir)
    data.setup("fit")
    batch = data.train_dataloader().collate_fn([data.train_set[(0, 0)]])
    assert int(batch["mm_token_type_ids"].sum()) == int(batch["image_grid_thw"].prod(-1).sum()) // 4
    system = module(tiny_vlm_dir)
    system.configure_model()
    with torch.no_grad():
        ours = system.compute_loss(batch).loss
        reference = system.model(**model_inputs(batch), labels=batch["labels"]).loss
        text_positions_only = {k: v for k, v in model_inputs(batch).items() if k != "mm_token_type_ids"}
        with_positions = system.model(**model_inputs(batch)).logits
        flat = system.model(**text_positions_only).logits
    torch.testing.assert_close(ours, reference)
    assert (with_positions - flat).abs().max() > 1e-4  # the 3D (image) rope positions are really in use
