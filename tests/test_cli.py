import json
import re
from pathlib import Path

import pytest
import torch

from vlm_ocr.cli import main
from vlm_ocr.verbs import run_verb

TINY = str(Path(__file__).resolve().parents[1] / "experiments" / "tiny.yaml")


def run(*args):
    assert main(list(args)) == 0


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test"])
def test_subcommands_run_with_fast_dev_run(subcommand, cli_env, tmp_path):
    run(subcommand, "--config", TINY, *cli_env, "--trainer.fast_dev_run", "true", "--data.num_workers", "0")


def test_predict_writes_markdown_and_jsonl(cli_env, tmp_path, sample_data_dir, shared_fixtures):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 broken")
    out = tmp_path / "pred"
    run(
        "predict",
        "--config",
        TINY,
        *cli_env,
        "--trainer.fast_dev_run",
        "3",
        "--data.num_workers",
        "0",
        "--data.predict_paths",
        json.dumps([str(shared_fixtures / "pdfs" / "skinnypage.pdf"), str(broken)]),
        "--model.generation.max_new_tokens",
        "8",
        "--data.batch_size",
        "2",
        "--trainer.callbacks+=vlm_ocr.callbacks.PredictionWriter",
        f"--trainer.callbacks.out_dir={out}",
    )
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    pages = {(Path(r["source"]).name, r["page"]) for r in rows if "text" in r}
    assert pages == {("skinnypage.pdf", 1), ("skinnypage.pdf", 2)}
    for row in rows:
        if "text" in row:
            assert row["finish_reason"] in ("stop", "length") and 0 < row["tokens_out"] <= 8
            assert row["tokens_in"] > 100 and ("front_matter" in row or "front_matter_error" in row)
            assert (out / f"skinnypage_pg{row['page']}.md").read_text() == row["text"]
    errors = [r for r in rows if "error" in r]
    assert len(errors) == 1 and errors[0]["source"].endswith("broken.pdf") and "cannot open PDF" in errors[0]["error"]


def test_print_config(cli_env, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", TINY, *cli_env, "--print_config"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "class_path: vlm_ocr.data.RenderPage" in printed and "accumulate_grad_batches: 1" in printed


def test_inspect_data_shows_samples_and_drops(cli_env, tmp_path, capsys):
    out = tmp_path / "inspect.jsonl"
    run("inspect-data", "--config", TINY, *cli_env, "--split", "train", "--limit", "100", "--out", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 14
    dropped = [r for r in rows if r["dropped"]]
    assert {r["step"] for r in dropped} == {"FilterRotated"} and len(dropped) == 2
    assert all("rotated" in r["markdown_path"] and r["reason"].startswith("rotated page") for r in dropped)
    kept = [r for r in rows if not r["dropped"]]
    for row in kept:
        t, h, w = row["image_grid_thw"][0]
        assert row["image_tokens"] == t * h * w // 4 == row["input_ids"].count(151655)
        assert row["prompt"].endswith("<|im_start|>assistant\n") and row["target"].endswith("<|im_end|>")
        assert row["target"].startswith("---\nprimary_language: ")
        assert len(row["labels"]) == len(row["input_ids"])
    assert main(["inspect-data", "--config", TINY, *cli_env, "--split", "nope", "--out", str(out)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(
        "inspect-data: error: --split nope: unknown split; choose train or one of ['sample_eval', 'sample_train']"
    )


def test_make_tiny_model_and_sample_data(tmp_path):
    run("make-tiny-model", str(tmp_path / "m"))
    run("make-sample-data", str(tmp_path / "demo"))  # the demo's: two short document pages, one page of each kind
    full = ["--train_kinds", "null", "--train_per_kind", "1", "--eval_per_kind", "1", "--text", "full"]
    run("make-sample-data", str(tmp_path / "d"), *full)
    from vlm_ocr.model.loading import load_model

    assert load_model(str(tmp_path / "m"), "float32").config.text_config.hidden_size == 32
    assert sorted(p.name for p in (tmp_path / "demo" / "train").rglob("*.md")) == ["document_000.md", "document_001.md"]
    assert len(list((tmp_path / "demo" / "eval").rglob("*.md"))) == 7
    short, long = (
        (folder / "eval" / "list" / "list_000.md").read_text() for folder in (tmp_path / "demo", tmp_path / "d")
    )
    assert short.count("\n- ") == 2 and long.count("\n- ") == 4
    assert len(list((tmp_path / "d" / "train").rglob("*.md"))) == 7
    first = (tmp_path / "d" / "train" / "table" / "table_000.pdf").read_bytes()
    run("make-sample-data", str(tmp_path / "d2"), *full)
    assert (tmp_path / "d2" / "train" / "table" / "table_000.pdf").read_bytes() == first  # deterministic


def test_fit_exports_a_folder_that_reloads_with_identical_logits(cli_env, tmp_path, sample_data_dir):
    from tiny_setup import exporting_fit_args

    from vlm_ocr.experiment_cli import build_cli
    from vlm_ocr.model.generate import model_inputs
    from vlm_ocr.model.loading import load_model

    export = tmp_path / "export"
    cli = build_cli(["fit", *exporting_fit_args(cli_env, export)])
    trained = cli.model.model.eval()
    reloaded = load_model(str(export), "float32", "sdpa").eval()
    datamodule = cli.datamodule
    batch = datamodule.val_dataloader()[0].collate_fn([datamodule.eval_sets[0][0]])
    inputs = model_inputs(batch)
    with torch.no_grad():
        assert torch.equal(trained(**inputs).logits, reloaded(**inputs).logits)
    assert not torch.equal(trained.lm_head.weight, load_model(cli.model.hparams.pretrained, "float32").lm_head.weight)
    assert (export / "chat_template.jinja").exists() and (export / "tokenizer.json").exists()


def test_predict_on_an_eval_dataset_carries_references(cli_env, tmp_path):
    out = tmp_path / "pred"
    run(
        "predict",
        "--config",
        TINY,
        *cli_env,
        "--data.num_workers",
        "0",
        "--data.predict_paths",
        "[]",
        "--data.predict_eval_datasets",
        "[sample_eval]",
        "--model.generation.max_new_tokens",
        "4",
        "--trainer.callbacks+=vlm_ocr.callbacks.PredictionWriter",
        f"--trainer.callbacks.out_dir={out}",
    )
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    answered = [r for r in rows if "text" in r]
    assert len(rows) == 7 and len(answered) == 6  # the rotated eval page is dropped by FilterRotated
    assert all(r["dataset"] == "sample_eval" and r["reference"].startswith("---\nprimary_language:") for r in answered)
    assert [r for r in rows if "error" in r][0]["step"] == "FilterRotated"


def test_bench_predict_writes_a_candidate_and_scores_it(cli_env, tmp_path, shared_fixtures, capsys):
    import shutil

    bench = tmp_path / "bench"
    shutil.copytree(shared_fixtures / "bench" / "pdfs", bench / "pdfs")
    shutil.copy(shared_fixtures / "bench" / "headers_footers.jsonl", bench)
    run(
        "bench",
        "--predict",
        "--config",
        TINY,
        *cli_env,
        "--bench-dir",
        str(bench),
        "--candidate",
        "tiny",
        "--data.num_workers",
        "0",
        "--model.generation.max_new_tokens",
        "4",
        "--bootstrap-samples",
        "50",
    )
    pdfs = sorted((bench / "pdfs").rglob("*.pdf"))
    outputs = sorted((bench / "tiny").rglob("*_repeat1.md"))
    assert len(outputs) >= len(pdfs) and all(p.parent.name == "headers_footers" for p in outputs)
    assert "tiny" in capsys.readouterr().out


@pytest.mark.slow  # about 1-2 minutes on 2 cores
def test_the_recipe_config_trains_with_wandb_offline(cli_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    mix = str(Path(TINY).parent / "mix_1025.yaml")
    run(
        "fit",
        "--config",
        mix,
        *cli_env,
        "--trainer.accelerator",
        "cpu",
        "--trainer.precision",
        "32-true",
        "--model.dtype",
        "float32",
        "--model.compile",
        "false",
        "--trainer.max_steps",
        "2",
        "--trainer.accumulate_grad_batches",
        "1",
        "--trainer.limit_val_batches",
        "1",
        "--model.generation.max_new_tokens",
        "8",
        "--data.train_roots",
        "[train/document]",
        "--data.eval_roots",
        '{"processed_00_documents_eval_s2pdf": "eval"}',
        "--data.num_workers",
        "0",
        "--trainer.logger.init_args.save_dir",
        str(tmp_path / "wandb"),
    )
    assert list((tmp_path / "wandb").rglob("*.wandb")), "W&B wrote no offline run"
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("metrics: ")]
    assert printed and Path(printed[0].removeprefix("metrics: ")).is_dir()  # the offline run's folder, no object
    assert list(Path("runs/mix_1025/checkpoints").glob("*.ckpt"))


def test_bad_verb_usage_stops_with_a_message_that_says_what_to_do(cli_env, tmp_path, capsys):
    def last_error_line():
        return capsys.readouterr().err.strip().splitlines()[-1]

    assert main(["bench", "--predict", "--bench-dir", str(tmp_path), "--candidate", "tiny"]) == 2
    assert last_error_line() == "bench: error: --predict needs --config X.yaml (the experiment whose model predicts)"
    assert main(["cache-renders", "--config", TINY, *cli_env]) == 2  # tiny.yaml renders uncached
    assert last_error_line().startswith("cache-renders: error: the config's RenderPage step has no cache_dir")
    assert main(["inspect-data", "--config", TINY, "--split", "train"]) == 2
    assert last_error_line() == (
        "inspect-data: error: the following arguments are required: out (see python -m vlm_ocr inspect-data --help)"
    )
    assert not list(tmp_path.iterdir())  # nothing was written


def test_a_verb_takes_its_own_options_and_passes_every_other_argument_on():
    seen = {}

    def verb(experiment_args: list[str], *, out: Path, limit: int = 20, force: bool = False) -> int:
        """A verb that runs an experiment.

        Args:
            out: output file.
            limit: most samples.
            force: go on regardless.
        """
        seen.update(experiment_args=experiment_args, out=out, limit=limit, force=force)
        return 3

    args = ["--config", "x.yaml", "--limit", "5", "--data.num_workers", "0", "--force", "--out=f.jsonl"]
    assert run_verb(verb, [*args, "--trainer.callbacks+=A", "--print_config"], prog="python -m vlm_ocr v") == 3
    passed_on = ["--config", "x.yaml", "--data.num_workers", "0", "--trainer.callbacks+=A", "--print_config"]
    assert seen == {"experiment_args": passed_on, "out": Path("f.jsonl"), "limit": 5, "force": True}


def test_fit_logs_once_per_optimizer_step_under_one_progress_bar(cli_env, tmp_path, capsys):
    logs = tmp_path / "logs"
    run(
        "fit",
        "--config",
        TINY,
        *cli_env,
        "--data.num_workers",
        "0",
        "--trainer.max_steps",
        "4",
        "--trainer.accumulate_grad_batches",
        "2",
        "--data.batch_size",
        "1",
        "--trainer.limit_val_batches",
        "0",
        "--trainer.logger.init_args.save_dir",
        str(logs),
    )
    out = capsys.readouterr().out
    import pandas as pd

    metrics = pd.read_csv(next(logs.rglob("metrics.csv")))
    steps = metrics.dropna(subset=["lr-AdamW/decay"])["step"].tolist()
    assert steps == [0, 1, 2, 3]  # accumulate_grad_batches 2: once per optimizer step, not per batch
    norms = metrics["train/grad_norm"].dropna()
    assert len(norms) == 4 and (norms > 0).all()
    assert "train/loss_by_dataset/train" in metrics and not any(c.startswith("train/train/") for c in metrics)
    bar = [line for line in out.replace("\r", "\n").splitlines() if line.startswith("Training")]
    # captured output is no terminal: the bar prints lines (step, elapsed, ETA), over one total, the run's steps
    assert bar and bar[-1].startswith("Training: step 4/4 (100%)") and "elapsed" in bar[-1]
    assert all(re.match(r"Training: step \d/4 ", line) for line in bar)


def test_a_list_positional_takes_every_bare_word():
    seen = {}

    def verb(checkpoints: list[str], *, out: Path, dtype: str = "bfloat16") -> int:
        """A verb of several inputs.

        Args:
            checkpoints: inputs.
            out: output folder.
            dtype: weights' dtype.
        """
        seen.update(checkpoints=checkpoints, out=out, dtype=dtype)
        return 0

    assert run_verb(verb, ["a.ckpt", "b.ckpt", "--out", "o", "c.ckpt", "--dtype=float32"], prog="python -m x v") == 0
    assert seen == {"checkpoints": ["a.ckpt", "b.ckpt", "c.ckpt"], "out": Path("o"), "dtype": "float32"}
