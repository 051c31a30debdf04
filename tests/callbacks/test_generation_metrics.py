import csv
import functools
import json

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.precision import Precision
from PIL import Image
from training_runs import roles

from vlm_ocr.callbacks import GenerationMetrics
from vlm_ocr.callbacks.generation_metrics import TABLE_COLUMNS, inference_mode, prompt_only
from vlm_ocr.data import PageDataModule
from vlm_ocr.data.processor import IGNORE_INDEX
from vlm_ocr.eval import explore
from vlm_ocr.model.generate import GenerationSpec, generate_markdown, model_inputs
from vlm_ocr.model.module import VlmOcrModule

METRICS = ("cer", "wer", "ned", "bleu", "front_matter_accuracy", "stop_share", "repetition_rate")


def datamodule(tiny_vlm_dir, sample_data_dir):
    return PageDataModule(
        processor_path=str(tiny_vlm_dir),
        data_root=str(sample_data_dir),
        train_roots=["train/document"],
        eval_roots={"mixed": "eval", "rotated": "eval/rotated"},
        **roles(),
        max_length=2048,
    )


def test_callback_logs_metrics_and_writes_tables_during_fit(tmp_path, tiny_vlm_dir, sample_data_dir):
    callback = GenerationMetrics(every_n_validations=2, samples_per_dataset=3, max_new_tokens=6, batch_size=2)
    system = VlmOcrModule(
        str(tiny_vlm_dir),
        dtype="float32",
        attn_implementation="sdpa",
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-3),
    )
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=3,
        val_check_interval=1,
        limit_val_batches=1,
        num_sanity_val_steps=1,  # not counted as a validation
        logger=CSVLogger(tmp_path, name=""),
        callbacks=[callback],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    with pytest.warns(UserWarning, match="rotated: only 0 usable pages"):
        trainer.fit(system, datamodule(tiny_vlm_dir, sample_data_dir))

    # validations after steps 1, 2 and 3: generation at the 1st and the 3rd
    tables = sorted((tmp_path / "version_0" / "generations").glob("*.jsonl"))
    assert [t.name for t in tables] == ["step0000001.jsonl", "step0000003.jsonl"]
    rows = [json.loads(line) for line in tables[0].read_text().splitlines()]
    # blank, document, equation: the first three usable pages in index order, the same each time
    assert [r["markdown_path"].split("/")[-1] for r in rows] == ["blank_000.md", "document_000.md", "equation_000.md"]
    assert callback.chosen == {"mixed": [0, 1, 2], "rotated": []}
    row = rows[1]
    assert row["dataset"] == "mixed" and row["step"] == 1 and row["page"] == 1
    assert row["reference"].startswith("---\nprimary_language: en\n") and row["source"].endswith("document_000.pdf")
    assert row["tokens_out"] <= 6 and row["finish_reason"] in ("stop", "length")
    assert {"text", "cer", "ned", "bleu", "front_matter_parsed", "repetitive", "stopped"} <= set(row)

    with open(tmp_path / "version_0" / "metrics.csv") as handle:
        logged = [r for r in csv.DictReader(handle) if r.get("val/mixed/cer")]
    assert [int(r["step"]) for r in logged] == [0, 2]  # Lightning logs validation at global_step - 1
    for metric in METRICS:
        value = float(logged[0][f"val/mixed/{metric}"])
        assert value >= 0.0 and (value <= 1.0 or metric in ("cer", "wer"))
    assert float(logged[0]["val/mixed/is_table_accuracy"]) in (0.0, 1 / 3, 2 / 3, 1.0)
    assert not logged[0].get("val/rotated/cer")  # no usable page, nothing logged

    # The table file reads like a predictions file, and the notebook's summary gives the logged numbers.
    frame = explore.load_predictions(tables[0])
    assert frame["ned"].tolist() == pytest.approx([r["ned"] for r in rows])
    summary = explore.summarize(frame).loc["mixed"]
    for metric in METRICS:
        assert summary[metric] == pytest.approx(float(logged[0][f"val/mixed/{metric}"]), abs=1e-6)


def test_inference_mode_restores_every_module_flag():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout())
    model[1].eval()  # e.g. a frozen tower kept in eval mode

    class FakeTrainer:
        precision_plugin = Precision()

    with inference_mode(FakeTrainer(), model):
        assert not model.training and not model[0].training
    assert model.training and model[0].training and not model[1].training


def test_prompt_only_cuts_the_answer():
    sample = {
        "input_ids": torch.tensor([5, 6, 7, 8, 9]),
        "attention_mask": torch.ones(5, dtype=torch.long),
        "labels": torch.tensor([IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 8, 9]),
        "pixel_values": torch.zeros(4, 3),
        "image_grid_thw": torch.tensor([[1, 2, 2]]),
        "markdown_path": "a.md",
    }
    prompt = prompt_only(sample)
    assert prompt["input_ids"].tolist() == [5, 6, 7] and prompt["attention_mask"].tolist() == [1, 1, 1]


def test_wandb_table_row_has_a_thumbnail():
    wandb = pytest.importorskip("wandb")
    callback = GenerationMetrics(thumbnail_size=64)
    row = {"dataset": "d", "markdown_path": "a.md", "reference": "r", "text": "p", "cer": 0.5, "ned": 0.5}
    row.update(front_matter_accuracy=1.0, repetitive=False, finish_reason="stop", _image=Image.new("RGB", (200, 100)))
    values = callback.table_row(row)
    assert len(values) == len(TABLE_COLUMNS)
    image = values[TABLE_COLUMNS.index("image")]
    assert isinstance(image, wandb.Image) and image.image.size == (64, 32)
    assert values[TABLE_COLUMNS.index("prediction")] == "p"


def test_in_loop_answers_equal_predicts_answers(tiny_vlm_dir, sample_data_dir):
    """The callback asks what predict asks for the same page (image token types included: without them the model
    falls back to 1-D positions instead of its multimodal rope), so it gets predict's answer."""
    data = datamodule(tiny_vlm_dir, sample_data_dir)
    data.hparams.eval_roots = {"doc": "eval/document"}
    data.hparams.predict_eval_datasets = ["doc"]
    data.setup("validate")
    data.setup("predict")
    asked, predicted_prompt = model_inputs(prompt_only(data.eval_sets[0][(0, 0)])), model_inputs(data.predict_set[0])
    assert asked.keys() == predicted_prompt.keys() and "mm_token_type_ids" in asked
    assert all(torch.equal(asked[key], predicted_prompt[key]) for key in asked)

    system = VlmOcrModule(str(tiny_vlm_dir), dtype="float32", attn_implementation="sdpa")
    system.configure_model()
    system.eval()
    _, rows = GenerationMetrics(samples_per_dataset=1, max_new_tokens=12).evaluate(
        "doc", data.eval_sets[0], system, data
    )
    batch = next(iter(data.predict_dataloader()))
    predicted = generate_markdown(system.model, data.processor.tokenizer, batch, GenerationSpec(max_new_tokens=12))
    assert len(rows) == len(predicted) == 1
    assert rows[0]["text"] == predicted[0]["text"] and rows[0]["tokens_out"] == predicted[0]["tokens_out"]
