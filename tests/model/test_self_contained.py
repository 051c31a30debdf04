"""VlmOcrModule dropped into a plain Trainer: plain DataLoaders of collated pages, no data module, nothing linked."""

import lightning as L
import pytest
from tiny_setup import datamodule, module, trainer
from torch.utils.data import DataLoader

from vlm_ocr.data.collate import Collator
from vlm_ocr.model.generate import GenerationSpec


class PlainPages(L.LightningDataModule):
    """A data module with only dataloaders: no processor, eval_names or rotated_prompt for the module to find."""

    def __init__(self, train: DataLoader, val: list[DataLoader], predict: DataLoader):
        super().__init__()
        self.loaders = {"train": train, "val": val, "predict": predict}

    def train_dataloader(self) -> DataLoader:
        return self.loaders["train"]

    def val_dataloader(self) -> list[DataLoader]:
        return self.loaders["val"]

    def predict_dataloader(self) -> DataLoader:
        return self.loaders["predict"]


def plain_loaders(tiny_vlm_dir, sample_data_dir) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, eval and predict pages as plain torch DataLoaders (the pipeline only builds their datasets)."""
    pages = datamodule(tiny_vlm_dir, sample_data_dir, predict_paths=[str(sample_data_dir / "eval" / "document")])
    pages.setup("fit")
    pages.setup("predict")
    collate = Collator(pages.inputs.pad_id)
    train = DataLoader(pages.train_set, batch_size=1, collate_fn=collate)
    val = DataLoader(pages.eval_sets[0], batch_size=1, collate_fn=collate)
    predict = DataLoader(pages.predict_set, batch_size=2, collate_fn=Collator(pages.inputs.pad_id, "left"))
    return train, val, predict


def test_module_fits_validates_and_predicts_in_a_plain_trainer(tmp_path, tiny_vlm_dir, sample_data_dir):
    train, val, predict = plain_loaders(tiny_vlm_dir, sample_data_dir)
    plain = PlainPages(train, [val, val], predict)
    assert not any(hasattr(plain, name) for name in ("processor", "eval_names", "rotated_prompt"))
    system = module(tiny_vlm_dir, generation=GenerationSpec(max_new_tokens=4))
    fit = trainer(tmp_path, max_steps=2, limit_val_batches=1, val_check_interval=1)
    fit.fit(system, plain)
    assert fit.global_step == 2 and system.samples_seen == 2
    assert {"train/loss", "val/dataloader_0/loss", "val/dataloader_1/loss"} <= set(fit.callback_metrics)

    (metrics,) = trainer(tmp_path, limit_val_batches=1.0).validate(system, dataloaders=val, verbose=False)
    assert set(metrics) == {"val/dataloader_0/loss"} and metrics["val/dataloader_0/loss"] > 0

    with pytest.warns(UserWarning, match="no rotated_prompt was given"):  # nothing linked: no retry, and it says so
        rows = [row for batch in trainer(tmp_path).predict(system, dataloaders=predict) for row in batch]
    pdfs = sorted((sample_data_dir / "eval" / "document").glob("*.pdf"))
    assert sorted(row["source"] for row in rows) == sorted(str(pdf) for pdf in pdfs)
    assert all(isinstance(row["text"], str) and 0 < row["tokens_out"] <= 4 for row in rows)


def test_injected_eval_names_name_the_logged_losses(tmp_path, tiny_vlm_dir, sample_data_dir):
    _, val, _ = plain_loaders(tiny_vlm_dir, sample_data_dir)
    system = module(tiny_vlm_dir, eval_names=["document"])
    first, second = trainer(tmp_path, limit_val_batches=1.0).validate(system, dataloaders=[val, val], verbose=False)
    assert set(first) == {"val/document/loss"} and set(second) == {"val/dataloader_1/loss"}  # unnamed: its index
    assert first["val/document/loss"] == second["val/dataloader_1/loss"]
    assert "eval_names" not in system.hparams and "rotated_prompt" not in system.hparams  # wiring, not settings
