"""Stop-and-resume equality: the same next batches, the same lr, bit-identical final weights, any worker count."""

import shutil

import pytest
import torch
from recording import Recorder, read_rows
from training_runs import make_data, make_module, make_trainer

from vlm_ocr.data.dataset import PageDataset

WEIGHTS = {"document": 2.0, "table": 0.5}  # 4 + 1 pages per epoch: up- and down-sampling, resumed too
MAX_STEPS = 6  # accumulation 2 over 5 batches: 3 optimizer steps per epoch, the last of a single batch


def fit(out, model_dir, data_dir, ckpt_path=None, workers=0, every_n_steps=None):
    data = make_data(model_dir, data_dir, train_weights=WEIGHTS, num_workers=workers)
    callbacks = [Recorder(str(out / "rec"))]
    trainer = make_trainer(out, callbacks, every_n_steps, max_steps=MAX_STEPS, accumulate_grad_batches=2)
    trainer.fit(make_module(model_dir), data, ckpt_path=ckpt_path)
    return read_rows(out / "rec"), torch.load(out / "rec" / "weights.pt")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_vlm_dir, sample_data_dir):
    """One uninterrupted run that checkpoints after every optimizer step."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("reference")
    try:
        rows, weights = fit(out, tiny_vlm_dir, sample_data_dir, every_n_steps=1)
    finally:
        torch.set_num_threads(threads)
    return out, rows, weights


def test_the_reference_run_mixes_and_crosses_an_epoch(reference):
    _, rows, _ = reference
    assert len(rows) == 10 and [r["epoch"] for r in rows] == [0] * 5 + [1] * 5
    for epoch in (0, 1):
        datasets = [d for r in rows if r["epoch"] == epoch for d in r["datasets"]]
        assert sorted(datasets) == ["document"] * 4 + ["table"]  # 2 pages x 2.0, 2 pages x 0.5
    assert [r["step"] for r in rows] == [0, 0, 1, 1, 2, 3, 3, 4, 4, 5]  # the epoch's last batch steps alone


@pytest.mark.parametrize(
    ("step", "workers"),
    [(2, 2), (3, 0)],
    ids=["mid-epoch-2-workers", "end-of-epoch-0-workers"],
)
def test_resume_gives_the_same_batches_lr_and_weights(
    reference, step, workers, tmp_path, tiny_vlm_dir, sample_data_dir, one_thread, monkeypatch
):
    root, rows, weights = reference
    loaded = []
    original = PageDataset.__getitem__
    monkeypatch.setattr(PageDataset, "__getitem__", lambda self, key: loaded.append(key) or original(self, key))
    resumed_rows, resumed_weights = fit(
        tmp_path, tiny_vlm_dir, sample_data_dir, ckpt_path=root / "ckpt" / f"step{step}.ckpt", workers=workers
    )
    tail = [r for r in rows if r["step"] >= step]
    assert resumed_rows == tail  # same pages, datasets, epochs, batch indices and learning rates
    assert resumed_weights.keys() == weights.keys()
    assert all(torch.equal(resumed_weights[k], weights[k]) for k in weights)
    if workers == 0:  # only the pages still to train on were loaded (workers load in other processes)
        assert len(loaded) == sum(len(r["pages"]) for r in tail)


def test_a_corrupt_last_checkpoint_falls_back_to_the_newest_valid_one(
    reference, tmp_path, tiny_vlm_dir, sample_data_dir, one_thread, caplog
):
    root, rows, weights = reference
    folder = tmp_path / "ckpt"
    shutil.copytree(root / "ckpt", folder)
    for name in ("last.ckpt", "step6.ckpt"):  # bit rot in one, a partial write (truncation) in the other
        data = bytearray((folder / name).read_bytes())
        data[len(data) // 3] ^= 0x10
        (folder / name).write_bytes(bytes(data) if name == "last.ckpt" else bytes(data[: len(data) // 2]))
    (folder / "step5.ckpt.sum.json").write_text("{")  # a checksum record cut short
    resumed_rows, resumed_weights = fit(tmp_path, tiny_vlm_dir, sample_data_dir, ckpt_path=folder / "last.ckpt")
    assert f"checkpoint {folder / 'last.ckpt'} is unusable: {folder / 'last.ckpt'}: checksum mismatch" in caplog.text
    assert f"skipping checkpoint {folder / 'step6.ckpt'} too" in caplog.text and "(truncated or partial)" in caplog.text
    assert f"resuming from {folder / 'step4.ckpt'} instead" in caplog.text
    assert resumed_rows == [r for r in rows if r["step"] >= 4]
    assert all(torch.equal(resumed_weights[k], weights[k]) for k in weights)
