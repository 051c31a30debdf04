"""The folder a fit exports serves elsewhere: plain transformers, given only the recorded inference settings,
reproduces predict's answer; the legacy processor files are there and every file is readable by others."""

import json
import stat
from pathlib import Path

import torch

from vlm_ocr.cli import main
from vlm_ocr.pages.pdf import RenderSpec, render_page

TINY = str(Path(__file__).resolve().parents[2] / "experiments" / "tiny.yaml")


def plain_transformers_answer(folder: Path, pdf: Path) -> str:
    """Render, prompt and generate from the folder's files and vlm_ocr_inference.json alone: the page rendered as
    the settings say, then plain transformers (no vlm_ocr model, processor or generation code)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    settings = json.loads((folder / "vlm_ocr_inference.json").read_text())
    render, generation = settings["render"], settings["generation"]
    image = render_page(pdf, 0, RenderSpec(**render))
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    options = settings["chat_template_kwargs"]
    text = processor.apply_chat_template(settings["messages"], tokenize=False, add_generation_prompt=True, **options)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=generation["max_new_tokens"], do_sample=False)
    return processor.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def test_fit_export_serves_predicts_answer_with_plain_transformers(
    cli_env, tmp_path, tiny_vlm_dir, shared_fixtures, monkeypatch, capsys
):
    (tmp_path / "models").symlink_to(tiny_vlm_dir.parent)  # the model given relative to the working directory
    folder, checkpoints = tmp_path / "export", tmp_path / "ckpts"
    callbacks = [
        {"class_path": "vlm_ocr.callbacks.ExportHuggingFace", "init_args": {"dirname": str(folder)}},
        {
            "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
            "init_args": {"dirpath": str(checkpoints), "every_n_train_steps": 1},
        },
    ]
    common = [*cli_env, "--data.num_workers", "0", "--model.generation.max_new_tokens", "6"]
    fit = ["fit", "--config", TINY, *common, "--model.pretrained", f"models/{tiny_vlm_dir.name}"]
    fit += ["--trainer.max_steps", "2", "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "0"]
    assert main([*fit, "--callbacks", "null", "--trainer.callbacks", json.dumps(callbacks)]) == 0

    for name in ("preprocessor_config.json", "chat_template.json", "vlm_ocr_inference.json", "model.safetensors"):
        assert stat.S_IMODE((folder / name).stat().st_mode) & 0o044 == 0o044, name  # readable by others
    settings = json.loads((folder / "vlm_ocr_inference.json").read_text())
    assert settings["render"]["longest_side"] == 224 and settings["generation"]["max_new_tokens"] == 6  # tiny.yaml; CLI
    assert "<|vision_start|>" in json.loads((folder / "chat_template.json").read_text())["chat_template"]

    pdf = shared_fixtures / "pdfs" / "olmo-page-1.pdf"
    out = tmp_path / "pred"
    predict = ["predict", "--config", TINY, *common, "--model.pretrained", str(folder)]
    predict += ["--data.predict_paths", json.dumps([str(pdf)]), "--model.predict_rotation_retry", "false"]
    predict += ["--trainer.callbacks+=vlm_ocr.callbacks.PredictionWriter", f"--trainer.callbacks.out_dir={out}"]
    assert main(predict) == 0
    row = json.loads((out / "predictions.jsonl").read_text().splitlines()[0])
    assert row["tokens_out"] > 0 and plain_transformers_answer(folder, pdf) == row["text"]

    # The checkpoint records the model as an absolute path: export works from any folder and keeps the settings.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    last = sorted(checkpoints.glob("*.ckpt"))[-1]
    assert Path(torch.load(last, weights_only=False)["hyper_parameters"]["pretrained"]).is_absolute()
    parity = ["--parity.pages", "1", "--parity.longest_side", "112", "--parity.new_tokens", "2"]
    assert main(["export", str(last), "--out", "exported", "--base", "./not-made-yet", *parity]) == 2  # at once
    assert "export: error: --base ./not-made-yet: no such folder" in capsys.readouterr().err
    assert main(["export", str(last), "--out", "exported", "--dtype", "float32", *parity]) == 0
    assert json.loads((elsewhere / "exported" / "vlm_ocr_inference.json").read_text()) == settings
    assert (elsewhere / "exported" / "preprocessor_config.json").is_file()
