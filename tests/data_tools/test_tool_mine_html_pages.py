"""mine_html_pages end to end: real PDFs, the real local chat server, Chromium; the output scored by `vlm_ocr bench`
and its pairs read by `inspect-data`; resume, retries, drops, the key never written, and the user's mistakes."""

import contextlib
import io
import json
from pathlib import Path

import pypdf
import pytest
import yaml
from local_servers import OpenAIStub
from pdf_fixtures import SECRET_KEY, make_pdf

from data_tools.__main__ import main as dispatch
from vlm_ocr.pages.pairs import scan_pairs

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "synth"
REPO = Path(__file__).resolve().parents[2]
# Page sizes (points) -> the size of the image the chat model sees, which the local server answers by.
GOOD, TURNED, LONG, RAGGED = (540, 720), (500, 700), (595, 842), (792, 612)
IMAGE_OF = {GOOD: (768, 1024), TURNED: (732, 1024), LONG: (724, 1024), RAGGED: (1024, 792)}


def html(name: str) -> str:
    return (ASSETS / f"{name}.html").read_text(encoding="utf-8")


def run_tool(*args: str) -> tuple[int, str]:
    """The tool through `python -m data_tools`'s dispatcher, in process; its exit status and its stderr."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        dispatch(["mine_html_pages", *args])
    return exit_.value.code, stderr.getvalue()


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    """One run on four PDFs: a good page (refined from a ragged draft), a turned page, one that overflows, one whose
    final HTML has a ragged table; the first two chat requests are answered 429 and 503."""
    root = tmp_path_factory.mktemp("mine")
    pdfs = root / "pdfs"
    pdfs.mkdir()
    sizes = {"report": GOOD, "turned": TURNED, "minutes": LONG, "inventory": RAGGED}
    for stem, (width, height) in sizes.items():
        pages = [{"width": width, "height": height, "text": f"{stem} page {n}"} for n in range(1, 4)]
        (pdfs / f"{stem}.pdf").write_bytes(make_pdf(pages))
    server = OpenAIStub().start()
    server.accepted_key = SECRET_KEY
    server.chat_failures = [429, 503]
    server.synth_pages = {
        IMAGE_OF[GOOD]: {"html": html("ragged"), "refined": html("report")},
        IMAGE_OF[TURNED]: {"orientation": "ROTATED_90"},
        IMAGE_OF[LONG]: {"html": html("overflow")},
        IMAGE_OF[RAGGED]: {"html": html("ragged")},
    }
    bench, pairs = root / "bench", root / "pairs"
    args = [
        "--pdfs",
        str(pdfs / "*.pdf"),
        "--out",
        str(bench),
        "--model",
        "stub-model",
        "--base-url",
        server.url + "/v1",
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", SECRET_KEY)
        patch.delenv("OPENAI_BASE_URL", raising=False)
        code, log = run_tool(*args, "--pairs", str(pairs), "--run.workers", "2")
        calls = server.chat_calls
        first_meta = json.loads((bench / "pages" / "_meta.json").read_text())
        first_dropped = (bench / "pages" / "dropped.jsonl").read_text()
        again, log_again = run_tool(*args, "--pairs", str(pairs))
    yield {
        "root": root,
        "bench": bench,
        "pairs": pairs,
        "server": server,
        "code": code,
        "log": log + log_again,
        "first_meta": first_meta,
        "first_dropped": first_dropped,
        "again": {"code": again, "new_calls": server.chat_calls - calls},
    }
    server.stop()


def test_pages_become_a_bench_folder(mined):
    bench = mined["bench"]
    assert mined["code"] == 0, mined["log"]
    lines = [json.loads(line) for line in mined["first_dropped"].splitlines()]
    reasons = {line["item"].split("/")[-1].split("-")[0]: line["reason"] for line in lines}
    remembered = [json.loads(p.read_text()) for p in (bench / "pages" / "synthetic").glob("*.dropped.json")]
    assert sorted(remembered, key=str) == sorted(lines, key=str)
    assert reasons == {
        "turned": "not upright (ROTATED_90)",
        "minutes": "overflows one page (4 pages at scale 0.5)",
        "inventory": "table 1 is not rectangular",
    }
    (record_path,) = (p for p in (bench / "pages" / "synthetic").glob("*.json") if ".dropped" not in p.name)
    record = json.loads(record_path.read_text())
    stem = f"{record['pdf_id']}_page{record['page']}"
    assert record["pdf_id"].startswith("report-") and 1 <= record["page"] <= 3
    assert [r["step"] for r in record["requests"]] == ["orientation", "analysis", "html", "refinement"]
    assert all(r["tokens_in"] > 0 and r["tokens_out"] > 0 for r in record["requests"])
    assert record["tokens_in"] == sum(r["tokens_in"] for r in record["requests"])
    rendered = pypdf.PdfReader(bench / "pdfs" / "synthetic" / f"{stem}.pdf")
    box = rendered.pages[0].mediabox
    assert len(rendered.pages) == 1 and abs(box.width - GOOD[0]) < 0.5 and abs(box.height - GOOD[1]) < 0.5
    assert len(pypdf.PdfReader(bench / "originals" / "synthetic" / f"{stem}.pdf").pages) == 1
    tests = [json.loads(line) for line in (bench / "synthetic.jsonl").read_text().splitlines()]
    assert tests == record["tests"] and {t["pdf"] for t in tests} == {f"synthetic/{stem}.pdf"}
    assert {"absent", "table", "order", "math", "baseline"} <= {t["type"] for t in tests}
    reference = (bench / "claude_original" / "synthetic" / f"{stem}_pg1_repeat1.md").read_text()
    assert reference.startswith("---\nprimary_language: en\n") and "Soil moisture" in reference
    assert "Northern Survey Institute" not in reference  # the running header is left out, and tested absent
    meta = mined["first_meta"]
    assert meta["counts"]["bench"]["tokens_in"] == record["tokens_in"] and meta["counts"]["processed"] == 1
    assert meta["counts"]["bench"]["tests_dropped_failing_the_reference"] == record["tests_failed_by_reference"]
    assert f"{stem}: {len(tests)} tests, {record['tokens_in']} tokens in" in mined["log"]


def test_the_conversation_is_the_originals(mined):
    requests = mined["server"].chat_requests
    html_request = next(r for r in requests if "Render this document" in json.dumps(r))
    text = html_request["messages"][0]["content"][1]["text"]
    assert "fixed viewport size of 768 pixels wide by 1024 pixels tall" in text and "single-column" in text
    assert html_request["temperature"] == 0.2 and html_request["max_completion_tokens"] == 20000
    refinement = next(r for r in requests if "two images" in json.dumps(r))
    parts = refinement["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text", "image_url", "text", "text"]
    assert "Inventory of the east storehouse" in parts[-1]["text"]  # the draft it revises
    assert refinement["temperature"] == 1.0 and "thinking" not in refinement
    assert mined["server"].chat_calls >= 2 + len(requests)  # the 429 and the 503 were retried


def test_the_key_is_written_nowhere(mined):
    for folder in (mined["bench"], mined["pairs"]):
        for path in folder.rglob("*"):
            if path.is_file():
                assert SECRET_KEY.encode() not in path.read_bytes(), path
    assert SECRET_KEY not in mined["log"]


def test_a_second_run_skips_finished_pages(mined):
    assert mined["again"] == {"code": 0, "new_calls": 0}
    meta = json.loads((mined["bench"] / "pages" / "_meta.json").read_text())
    assert meta["counts"]["skipped"] == 4 and meta["counts"]["processed"] == 0  # dropped pages are remembered
    assert meta["counts"]["bench"] == mined["first_meta"]["counts"]["bench"]  # the same pages and tests


def test_the_bench_scores_the_reference_at_100_percent(mined, tmp_path):
    from vlm_ocr.cli import main

    report = tmp_path / "report.json"
    assert (
        main(["bench", "--bench-dir", str(mined["bench"]), "--candidate", "claude_original", "--out", str(report)]) == 0
    )
    scored = json.loads(report.read_text())
    assert scored["overall"] == 1.0 and scored["num_scored"] == scored["groups"][0]["total"] > 20, scored
    assert not scored["errors"] and not scored["failed"] and {t["type"] for t in scored["types"]} >= {"math", "table"}


def test_inspect_data_reads_the_pairs(mined, tmp_path, tiny_vlm_dir, monkeypatch):
    from vlm_ocr.cli import main

    (pair,) = scan_pairs(mined["pairs"])
    assert pair.pdf_path.is_symlink() and pair.pdf_stat is not None
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "synth.yaml"
    data = {"data_root": str(mined["root"]), "train_roots": ["pairs"], "eval_roots": {"synth": "pairs"}}
    data |= {"num_workers": 0, "index_cache_dir": str(tmp_path / "index")}
    config.write_text(yaml.safe_dump({"model": {"pretrained": str(tiny_vlm_dir)}, "data": data}))
    out = tmp_path / "samples.jsonl"
    args = ["inspect-data", "--config", str(REPO / "experiments" / "tiny.yaml"), "--config", str(config)]
    assert main([*args, "--trainer.default_root_dir", str(tmp_path), "--split", "synth", "--out", str(out)]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert not row["dropped"] and "Soil moisture across the northern plots" in row["target"]
