"""The declared seams are checked: mypy (the dev extras; `make typecheck`) passes on them, and catches a batch key
or a data-module attribute nothing declares."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def mypy(*files: str) -> tuple[str, int]:
    from mypy import api

    out, err, status = api.run(["--config-file", str(REPO / "setup.cfg"), "--no-error-summary", *files])
    return out + err, status


def test_the_seams_typecheck(monkeypatch):
    monkeypatch.chdir(REPO)
    out, status = mypy()
    assert status == 0, out


def test_an_undeclared_batch_key_or_data_attribute_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    reader = tmp_path / "reader.py"
    reader.write_text(
        "from vlm_ocr.data.batch import PageBatch\n"
        "from vlm_ocr.data.interface import PageData\n\n\n"
        "def pages(batch: PageBatch) -> int:\n"
        '    return batch["num_page"]\n\n\n'
        "def sets(data: PageData) -> object:\n"
        "    return data.eval_datasets\n"
    )
    out, status = mypy(str(reader))
    assert status == 1
    assert '"PageBatch" has no key "num_page"' in out and '"PageData" has no attribute "eval_datasets"' in out, out
