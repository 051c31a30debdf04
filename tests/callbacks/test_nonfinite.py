"""NaN injection: a poisoned step is skipped and logged, training goes on; too many in a row stop the run."""

import lightning as L
import pytest
import torch
from training_runs import make_data, make_module, make_trainer

from vlm_ocr.callbacks import NonFiniteGuard
from vlm_ocr.callbacks.nonfinite_guard import NonFiniteTraining


class Poison(L.Callback):
    """NaN pixels in the chosen batches, counted over the run (the loss and every gradient become NaN);
    snapshots of the weights."""

    def __init__(self, batches):
        self.batches = set(batches)
        self.seen = 0
        self.snapshots = {}  # global step -> weights when that step's first batch starts

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step not in self.snapshots:
            self.snapshots[trainer.global_step] = {
                n: p.detach().clone() for n, p in pl_module.model.named_parameters() if p.requires_grad
            }
        if self.seen in self.batches:
            batch["pixel_values"].fill_(float("nan"))
        self.seen += 1


def same(a, b):
    return all(torch.equal(a[n], b[n]) for n in a)


def test_a_poisoned_step_is_skipped_logged_and_training_goes_on(tmp_path, tiny_vlm_dir, sample_data_dir):
    poison, guard = Poison([2]), NonFiniteGuard(max_consecutive=3)  # batch 2 is in step 1's window (2 and 3)
    trainer = make_trainer(tmp_path, [poison, guard], max_steps=4, accumulate_grad_batches=2)
    system = make_module(tiny_vlm_dir)
    with pytest.warns(UserWarning, match=r"step 1: non-finite gradients, update skipped \(1 in a row, 1 in all\)"):
        trainer.fit(system, make_data(tiny_vlm_dir, sample_data_dir, roots=("train/document", "train/table")))
    shots = poison.snapshots
    final = {n: p.detach() for n, p in system.model.named_parameters() if p.requires_grad}
    assert sorted(shots) == [0, 1, 2, 3] and trainer.global_step == 4
    assert not same(shots[0], shots[1])  # step 0 trained
    assert same(shots[1], shots[2])  # step 1 (with the NaN batch) left every weight as it was
    assert not same(shots[2], shots[3]) and not same(shots[3], final)  # and training went on
    assert all(torch.isfinite(w).all() for w in final.values())
    assert guard.skipped == 1 and guard.consecutive == 0
    assert float(trainer.callback_metrics["train/nonfinite_skipped"]) == 1.0
    assert {"train/loss_by_dataset/document", "train/loss_by_dataset/table"} <= set(trainer.callback_metrics)
    assert guard.state_dict() == {"skipped": 1, "consecutive": 0}  # kept in checkpoints


def test_too_many_in_a_row_stop_the_run_with_a_clear_message(tmp_path, tiny_vlm_dir, sample_data_dir):
    trainer = make_trainer(tmp_path, [Poison(range(100)), NonFiniteGuard(max_consecutive=3)], max_steps=10)
    system = make_module(tiny_vlm_dir)
    system.configure_model()
    before = {n: p.detach().clone() for n, p in system.model.named_parameters()}
    with pytest.raises(NonFiniteTraining, match=r"3 optimizer steps in a row had NaN or infinite gradients"):
        trainer.fit(system, make_data(tiny_vlm_dir, sample_data_dir, roots=("train/document", "train/table")))
    assert trainer.global_step == 2  # the third skipped step raised before it counted
    assert all(torch.equal(before[n], p) for n, p in system.model.named_parameters())
