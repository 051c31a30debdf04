"""Mistakes a new user makes, through the command line: one line naming the option or file and the fix, a
non-zero exit, no traceback, and a truncated checkpoint given by path falls back as `last` does."""

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vlm_ocr.cli import main

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
TINY = str(EXPERIMENTS / "tiny.yaml")
QUICK = ["--data.num_workers", "0", "--trainer.max_steps", "1"]


def fails_with(capsys, args, *expected):
    """Run the command, expect exit status 2 (main caught the error: no traceback) and a last stderr line holding
    every expected text. (The subprocess test below checks a real stderr for tracebacks.)"""
    assert main(list(args)) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"{args[0]}: error: "), line
    for text in expected:
        assert text in line, line
    return line


def data_root(tmp_path, sample_data_dir, train_files=None):
    """A data root with the sample eval set and a train folder holding `train_files` (name -> bytes or source)."""
    root = tmp_path / "data"
    shutil.copytree(sample_data_dir / "eval", root / "eval")
    (root / "train").mkdir()
    for name, content in (train_files or {}).items():
        target = root / "train" / name
        if isinstance(content, Path):
            shutil.copy(content, target)
        else:
            target.write_bytes(content)
    return root


def test_fit_with_a_missing_data_root_or_train_folder(cli_env, capsys, tmp_path, sample_data_dir):
    fails_with(
        capsys,
        ["fit", "--config", TINY, *cli_env, *QUICK, "--data.data_root", str(tmp_path / "nowhere")],
        "--data.data_root",
        "nowhere: no such folder",
        "set --data.data_root",
    )
    no_train = tmp_path / "no_train"
    shutil.copytree(sample_data_dir / "eval", no_train / "eval")
    fails_with(
        capsys,
        ["fit", "--config", TINY, *cli_env, *QUICK, "--data.data_root", str(no_train)],
        "--data.train_roots: train: no such folder under --data.data_root",
    )


def test_mix_1025_without_a_data_root_says_to_set_it(tiny_vlm_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = [sys.executable, "-m", "vlm_ocr", "fit", "--config", str(EXPERIMENTS / "mix_1025.yaml")]
    command += [
        "--model.pretrained",
        str(tiny_vlm_dir),
        "--trainer.accelerator",
        "cpu",
        "--trainer.precision",
        "32-true",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("fit: error: --data.data_root data/olmocr-mix-1025: no such")
    assert "set --data.data_root" in done.stderr


def test_too_many_bad_pairs_is_one_line(cli_env, capsys, tmp_path, sample_data_dir):
    good = sample_data_dir / "train" / "document"
    pair = sorted(good.glob("*.md"))[0]
    root = data_root(tmp_path, sample_data_dir, {"a.md": pair, "a.pdf": pair.with_suffix(".pdf"), "b.md": b"no front"})
    fails_with(
        capsys,
        ["fit", "--config", TINY, *cli_env, *QUICK, "--data.data_root", str(root)],
        "1 of 2 files are bad",
        "max_bad_fraction",
        "b.md",
    )


def test_an_empty_train_folder_fails_instead_of_exporting_an_untrained_model(
    cli_env, capsys, tmp_path, sample_data_dir
):
    root = data_root(tmp_path, sample_data_dir)
    fails_with(
        capsys,
        ["fit", "--config", TINY, *cli_env, *QUICK, "--data.data_root", str(root)],
        "--data.train_roots: no usable page",
        "train",
    )
    assert not list(tmp_path.rglob("hf_model"))


def test_a_missing_local_model_folder_fails_at_once(cli_env, capsys, tmp_path):
    missing = tmp_path / "models" / "not-made-yet"
    fails_with(
        capsys,
        ["fit", "--config", TINY, *cli_env, *QUICK, "--model.pretrained", str(missing)],
        f"--model.pretrained {missing}: no such folder",
        "make-tiny-model",
    )
    fails_with(
        capsys,
        ["predict", "--config", TINY, *cli_env, "--model.pretrained", "./not-made-yet"],
        "--model.pretrained ./not-made-yet: no such folder",
    )


def test_a_truncated_checkpoint_by_path_falls_back_like_last(cli_env, tmp_path, caplog):
    logging.getLogger("vlm_ocr").addHandler(caplog.handler)
    checkpoints = tmp_path / "ckpts"
    every_step = [
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        f"--trainer.callbacks.dirpath={checkpoints}",
        "--trainer.callbacks.every_n_train_steps=1",
        "--trainer.callbacks.save_top_k=-1",
    ]
    fit = ["fit", "--config", TINY, *cli_env, "--data.num_workers", "0", "--trainer.limit_val_batches", "0"]
    try:
        assert main([*fit, "--trainer.max_steps", "2", *every_step]) == 0
        newest = checkpoints / "epoch=0-step=2.ckpt"
        newest.write_bytes(newest.read_bytes()[:5000])  # a copy cut short
        assert main([*fit, "--trainer.max_steps", "3", "--ckpt_path", str(newest), *every_step]) == 0
    finally:
        logging.getLogger("vlm_ocr").removeHandler(caplog.handler)
    assert f"checkpoint {newest} is unusable" in caplog.text
    assert "resuming from " + str(checkpoints / "epoch=0-step=1.ckpt") in caplog.text
    resumed = torch.load(checkpoints / "epoch=0-step=3.ckpt", weights_only=False, map_location="cpu")
    assert resumed["global_step"] == 3 and Path(resumed["hyper_parameters"]["pretrained"]).is_absolute()


def test_predict_on_a_missing_path(cli_env, capsys, tmp_path):
    missing = tmp_path / "scans" / "page.pdf"
    fails_with(
        capsys,
        ["predict", "--config", TINY, *cli_env, "--data.predict_paths", json.dumps([str(missing)])],
        f"--data.predict_paths: {missing}: no such PDF file or folder",
    )


def test_predict_keeps_both_pdfs_of_the_same_name(cli_env, capsys, tmp_path, shared_fixtures):
    for folder, source in (("a", "skinnypage.pdf"), ("b", "olmo-page-1.pdf")):
        (tmp_path / "in" / folder).mkdir(parents=True)
        shutil.copy(shared_fixtures / "pdfs" / source, tmp_path / "in" / folder / "report.pdf")
    out = tmp_path / "pred"
    args = ["predict", "--config", TINY, *cli_env, "--data.num_workers", "0", "--model.generation.max_new_tokens", "4"]
    args += ["--data.predict_paths", json.dumps([str(tmp_path / "in")]), "--model.predict_rotation_retry", "false"]
    assert (
        main([*args, "--trainer.callbacks+=vlm_ocr.callbacks.PredictionWriter", f"--trainer.callbacks.out_dir={out}"])
        == 0
    )
    assert f"predictions: 3 pages in {out}/" in capsys.readouterr().out  # skinnypage has two pages
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    outputs = {(Path(r["source"]).parent.name, r["page"]): r["output"] for r in rows}
    assert len(set(outputs.values())) == 3 and outputs[("a", 1)] == "report_pg1.md"
    assert outputs[("b", 1)].startswith("report-") and outputs[("b", 1)].endswith("_pg1.md")
    assert all((out / r["output"]).read_text() == r["text"] for r in rows)


def test_a_project_verb_reports_bad_input_as_one_line(tmp_path):
    for args, line in (
        (["bench", "--bench-dir", str(tmp_path / "nowhere"), "--candidate", "x"], "benchmark folder not found"),
        (["export", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "out")], "no such checkpoint"),
        (["make-sample-data", str(tmp_path / "d"), "--seed", "one"], 'Parser key "seed": Expected a'),
    ):
        done = subprocess.run([sys.executable, "-m", "vlm_ocr", *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"{args[0]}: error: ") and line in last, last
    assert not list(tmp_path.iterdir())  # nothing was written


def test_config_mistakes_are_one_line_naming_the_key_the_file_and_the_fix(capsys, tmp_path):
    def config(name, text):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    overlay_typo = config("overlay.yaml", "trainer:\n  max_stepz: 3\n")
    broken = config("broken.yaml", "trainer:\n  max_steps: [3\n")
    wrong_type = config("wrong-type.yaml", "trainer:\n  max_steps: three\n")
    not_a_list = config("not-a-list.yaml", "data:\n  train_roots: train\n")
    callback_typo = config(
        "callback.yaml",
        "trainer:\n  callbacks:\n    - class_path: vlm_ocr.callbacks.Telemetry\n      init_args:\n"
        "        log_every_n_step: 3\n",
    )
    cases = [
        (["--config", overlay_typo], ["trainer.max_stepz", overlay_typo, "did you mean trainer.max_steps?"]),
        (["--config", broken], [broken, "YAML syntax error at line 3, column 1", "line 2, column 14"]),
        (["--config", wrong_type], ["trainer.max_steps", wrong_type, "expected int, got 'three'"]),
        (["--config", not_a_list], ["data.train_roots", not_a_list, "write a list, e.g. --data.train_roots '[train]'"]),
        (["--data.train_roots", "train"], ["data.train_roots (command line)", "write a list"]),
        (["--config", str(tmp_path / "nope.yaml")], ["--config", "nope.yaml: no such file", "experiments/tiny.yaml"]),
        (["--config", callback_typo], ["log_every_n_step", callback_typo, "did you mean log_every_n_steps?"]),
        (["--trainer.max_step", "3"], ["trainer.max_step (command line)", "abbreviations are not accepted"]),
    ]
    for extra, expected in cases:
        assert main(["fit", "--config", TINY, *extra]) == 2, extra
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("fit: error: "), lines[:3]
        assert all(text in lines[0] for text in expected), (lines[0], expected)
    assert main(["fit"]) == 2
    line = capsys.readouterr().err.strip()
    no_config = "(no --config given: pass an experiment, e.g. --config experiments/tiny.yaml)"
    assert line == f"fit: error: model.pretrained is not set {no_config}"


def checkpointing_fit(model, data, folder, name, steps):
    """A tiny.yaml fit of `steps` steps, a checkpoint `<name>-step=N.ckpt` in `folder` at every step."""
    callback = {
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"dirpath": str(folder), "filename": name + "-{step}", "every_n_train_steps": 1, "save_top_k": -1},
    }
    args = ["fit", "--config", TINY, "--model.pretrained", str(model), "--data.data_root", str(data)]
    args += ["--trainer.default_root_dir", str(folder.parent / name), "--trainer.logger", "false"]
    args += ["--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "0", "--data.num_workers", "0"]
    assert main([*args, "--callbacks", "null", "--trainer.callbacks", json.dumps([callback])]) == 0


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_vlm_dir, sample_data_dir):
    """One checkpoint folder holding a run of model `a` (steps 1-2) and a later run of another model `b` (step 1)."""
    root = tmp_path_factory.mktemp("two_runs")
    for name in ("model_a", "model_b"):  # two model folders: two models, as far as any checkpoint can tell
        shutil.copytree(tiny_vlm_dir, root / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["vlm_ocr"])
        checkpointing_fit(root / "model_a", sample_data_dir, root / "ckpt", "a", 2)
        checkpointing_fit(root / "model_b", sample_data_dir, root / "ckpt", "b", 1)  # newer than a's
    return root


def test_a_fallback_only_picks_a_checkpoint_of_the_same_run_and_model(two_runs, sample_data_dir, capsys, caplog):
    logging.getLogger("vlm_ocr").addHandler(caplog.handler)
    ckpt = two_runs / "ckpt"
    validate = ["validate", "--config", TINY, "--data.data_root", str(sample_data_dir), "--data.num_workers", "0"]
    validate += ["--trainer.logger", "false", "--trainer.limit_val_batches", "1"]
    validate += ["--trainer.default_root_dir", str(two_runs / "validate"), "--callbacks", "null"]
    (ckpt / "garbage.ckpt").write_bytes(b"not a checkpoint at all")
    try:
        assert main([*validate, "--ckpt_path", str(ckpt / "garbage.ckpt")]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line.startswith(f"validate: error: {ckpt / 'garbage.ckpt'}: not a readable checkpoint"), line
        assert "no record says which run wrote it, so no other checkpoint stands in for it" in line
        newest_of_a = ckpt / "a-step=2.ckpt"
        newest_of_a.write_bytes(newest_of_a.read_bytes()[:5000])
        assert main([*validate, "--ckpt_path", str(newest_of_a)]) == 0
    finally:
        logging.getLogger("vlm_ocr").removeHandler(caplog.handler)
    fallback = f"resuming from {ckpt / 'a-step=1.ckpt'} instead: the newest valid checkpoint of the same run"
    assert fallback in caplog.text and f"model {two_runs / 'model_a'}, step 1" in caplog.text
    assert "b-step=" not in caplog.text  # b's checkpoints are newer, of another run and model


def test_a_model_folder_without_config_json_fails_at_once(cli_env, capsys, tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.safetensors").write_bytes(b"")
    fails_with(
        capsys,
        ["fit", "--config", TINY, *cli_env, "--model.pretrained", str(tmp_path / "weights")],
        f"--model.pretrained {tmp_path / 'weights'}: no config.json in this folder",
        "make-tiny-model",
    )


def test_a_negative_learning_rate_is_one_line(cli_env, capsys):
    fails_with(
        capsys,
        ["fit", "--config", TINY, *cli_env, *QUICK, "--model.optimizer.init_args.lr", "-0.001"],
        "--model.optimizer: Invalid learning rate: -0.001; fix its init_args",
    )


def test_inspect_data_out_naming_a_folder_is_one_line(cli_env, capsys, tmp_path):
    fails_with(
        capsys,
        ["inspect-data", "--config", TINY, *cli_env, "--out", str(tmp_path)],
        f"--out {tmp_path}: is a folder; give a file name",
    )


def test_a_pdf_without_its_markdown_is_listed_in_the_data_report(cli_env, tmp_path, sample_data_dir):
    pair = sorted((sample_data_dir / "train" / "document").glob("*.md"))[0]
    root = data_root(tmp_path, sample_data_dir, {"a.md": pair, "a.pdf": pair.with_suffix(".pdf")})
    shutil.copy(pair.with_suffix(".pdf"), root / "train" / "lonely.pdf")
    report = tmp_path / "report"
    args = ["inspect-data", "--config", TINY, *cli_env, "--data.data_root", str(root), "--data.report_dir", str(report)]
    args += ["--data.eval_roots", "{sample_eval: eval}"]  # this root has no train/document for tiny.yaml's sample_train
    assert main([*args, "--data.max_bad_fraction", "0.5", "--limit", "1", "--out", str(tmp_path / "s.jsonl")]) == 0
    rows = [json.loads(line) for line in (report / "data_report_train.jsonl").read_text().splitlines()]
    assert rows == [
        {"dataset": "train", "path": str(root / "train" / "lonely.pdf"), "reason": "no Markdown beside the PDF"}
    ]


def test_a_max_bad_fraction_outside_0_to_1_is_one_line(cli_env, capsys):
    fails_with(
        capsys,
        ["fit", "--config", TINY, *cli_env, *QUICK, "--data.max_bad_fraction", "-1"],
        "--data.max_bad_fraction -1.0: give a share between 0 and 1",
    )
