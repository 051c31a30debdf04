"""predict through the command line: every run keeps its own folder, a run with nothing to predict or whose every
input fails exits non-zero with one line, and the summary counts what was dropped or unreadable."""

import json
from pathlib import Path

from vlm_ocr.cli import main

TINY = str(Path(__file__).resolve().parents[1] / "experiments" / "tiny.yaml")


def predict_args(cli_env, out, *extra):
    args = ["predict", "--config", TINY, *cli_env, "--data.num_workers", "0", "--model.generation.max_new_tokens", "4"]
    args += ["--model.predict_rotation_retry", "false", *extra]
    return [*args, "--trainer.callbacks+=vlm_ocr.callbacks.PredictionWriter", f"--trainer.callbacks.out_dir={out}"]


def index(folder):
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]


def test_a_second_predict_writes_its_own_folder_and_keeps_the_first(cli_env, capsys, tmp_path, sample_data_dir):
    out = tmp_path / "pred"
    first, second = (sample_data_dir / "eval" / kind / f"{kind}_000.pdf" for kind in ("document", "table"))
    assert main(predict_args(cli_env, out, "--data.predict_paths", json.dumps([str(first)]))) == 0
    kept = (out / "predictions.jsonl").read_text()
    assert main(predict_args(cli_env, out, "--data.predict_paths", json.dumps([str(second)]))) == 0
    assert f"predictions: 1 pages in {tmp_path / 'pred-2'}/" in capsys.readouterr().out
    assert (out / "predictions.jsonl").read_text() == kept and [r["source"] for r in index(out)] == [str(first)]
    assert sorted(p.name for p in out.iterdir()) == ["document_000_pg1.md", "predictions.jsonl"]
    assert [r["output"] for r in index(tmp_path / "pred-2")] == ["table_000_pg1.md"]


def test_predict_with_nothing_to_predict_fails_with_one_line(cli_env, capsys, tmp_path):
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "notes.txt").write_text("no PDF here")
    for paths, expected in (
        ([str(tmp_path / "scans")], f"--data.predict_paths: {tmp_path / 'scans'}: no PDF in this folder"),
        ([], "nothing to predict: --data.predict_paths holds no PDF"),
    ):
        assert main(predict_args(cli_env, tmp_path / "pred", "--data.predict_paths", json.dumps(paths))) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line.startswith("predict: error: ") and expected in line, line
    assert not (tmp_path / "pred").exists() or not list((tmp_path / "pred").glob("*.md"))


def test_predict_whose_every_pdf_fails_exits_non_zero_and_counts_them(cli_env, capsys, tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "a.pdf").write_bytes(b"%PDF-1.4 not really")
    (scans / "b.pdf").write_bytes(b"")
    assert main(predict_args(cli_env, tmp_path / "pred", "--data.predict_paths", json.dumps([str(scans)]))) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("predict: error: no page was predicted: 0 pages in ") and "2 PDFs could not be read" in line
    assert sorted(row["source"] for row in index(tmp_path / "pred")) == [str(scans / "a.pdf"), str(scans / "b.pdf")]


def test_an_eval_set_predict_says_which_pages_it_dropped(cli_env, capsys, tmp_path):
    out = tmp_path / "pred"
    args = predict_args(cli_env, out, "--data.predict_paths", "[]", "--data.predict_eval_datasets", "[sample_eval]")
    assert main(args) == 0
    assert f"predictions: 6 pages in {out}/ (index: {out / 'predictions.jsonl'}); 1 pages dropped by FilterRotated" in (
        capsys.readouterr().out
    )
    dropped = [row for row in index(out) if "error" in row]
    assert [Path(row["source"]).name for row in dropped] == ["rotated_000.pdf"]
