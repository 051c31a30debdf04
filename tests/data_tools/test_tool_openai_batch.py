"""build_openai_batch_from_olmocrmix -> runopenaibatch (real local OpenAI server) -> process_openai_batch_results."""

import base64
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pdf_fixtures import SECRET_KEY, letter, make_pdf
from PIL import Image

from data_tools import build_openai_batch_from_olmocrmix as build
from data_tools import process_openai_batch_results as process
from data_tools import runopenaibatch
from vlm_ocr.errors import InputError
from vlm_ocr.pages.front_matter import read_page_markdown
from vlm_ocr.pages.pdf import RenderSpec, media_box_as_poppler_reads_it, poppler_pixel_size
from vlm_ocr.pages.prompts import build_openai_silver_data_prompt_v3_simple, openai_response_format_schema
from vlm_ocr.prep import batch_io
from vlm_ocr.prep.batch_jobs import STATE_NAME
from vlm_ocr.prep.runner import RunArgs

REPO = Path(__file__).resolve().parents[2]
FAST = {"poll_interval_s": 0.005, "max_poll_interval_s": 0.02, "max_gb": 1}


@pytest.fixture
def pdf_tree(tmp_path) -> Path:
    root = tmp_path / "tree"
    for rel in ("a/p0.pdf", "a/p1.pdf", "b/x.pdf-3.pdf", "c.pdf"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(make_pdf([letter(f"text of {rel}")]))
    (root / "a" / "p1.md").write_text("---\n---\nmd files are ignored by the builder")
    (root / "multi.pdf").write_bytes(make_pdf([letter("one"), letter("two")]))
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf")
    return root


def requests_in(folder: Path) -> list[dict]:
    return [
        json.loads(line) for p in sorted(folder.glob("batch_requests_*.jsonl")) for line in p.read_text().splitlines()
    ]


def test_build_requests_single_page_only_exact_ids(pdf_tree, tmp_path):
    out = tmp_path / "reqs"
    assert build.main(pdf_tree, output_dir=out, longest_side=400, run=RunArgs(workers=2)) == 1  # broken.pdf failed
    lines = requests_in(out)
    assert [r["custom_id"] for r in lines] == ["a/p0.pdf", "a/p1.pdf", "b/x.pdf-3.pdf", "c.pdf"]
    body = lines[0]["body"]
    assert lines[0]["method"] == "POST" and lines[0]["url"] == "/v1/chat/completions"
    assert body["model"] == "gpt-4.1" and body["max_completion_tokens"] == 12000 and body["temperature"] == 0.1
    assert body["response_format"] == openai_response_format_schema()
    text, image = body["messages"][0]["content"]
    png = base64.b64decode(image["image_url"]["url"].removeprefix("data:image/png;base64,"))
    width, height = Image.open(io.BytesIO(png)).size
    # the original's size to the pixel: pdftoppm's ceiling can make the longest side 401 for a 400 target
    expected = poppler_pixel_size(
        *media_box_as_poppler_reads_it(pdf_tree / "a/p0.pdf", 0), RenderSpec(longest_side=400)
    )
    assert (width, height) == expected and max(width, height) in (400, 401)
    assert text["text"] == build_openai_silver_data_prompt_v3_simple(width, height)
    meta = json.loads((out / "_meta.json").read_text())["counts"]
    assert meta["dropped_reasons"] == {"multi-page PDF": 1} and meta["failed"] == 1
    assert "broken.pdf" in (out / "errors.jsonl").read_text()
    build.main(pdf_tree, output_dir=out, longest_side=400, max_pdfs=2)
    assert json.loads((out / "_meta.json").read_text())["counts"]["skipped"] == 2 and len(requests_in(out)) == 4


def test_build_rolls_over_at_the_cap(pdf_tree, tmp_path, monkeypatch):
    monkeypatch.setattr(batch_io, "MAX_BATCH_FILE_BYTES", 10_000)  # 99 MiB in production
    out = tmp_path / "reqs"
    build.main(pdf_tree, output_dir=out, longest_side=400, run=RunArgs(workers=1))
    parts = sorted(out.glob("batch_requests_*.jsonl"))
    assert len(parts) >= 2 and all(p.stat().st_size <= 10_000 for p in parts)
    assert [r["custom_id"] for r in requests_in(out)] == ["a/p0.pdf", "a/p1.pdf", "b/x.pdf-3.pdf", "c.pdf"]


KILL = """
import sys
from vlm_ocr.prep import batch_io
batch_io.MAX_BATCH_FILE_BYTES = 60_000
from data_tools.build_openai_batch_from_olmocrmix import cli
cli([sys.argv[1], "--output_dir", sys.argv[2], "--longest_side", "600", "--run.workers", "1"])
"""


def test_build_killed_mid_run_then_rerun_gives_every_request_once(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(24):
        (tree / f"p{i:02d}.pdf").write_bytes(make_pdf([letter(f"page {i} " * 20)]))
    out = tmp_path / "reqs"
    proc = subprocess.Popen([sys.executable, "-c", KILL, str(tree), str(out)], cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob("batch_requests_0001.jsonl")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(out.glob("batch_requests_0000.jsonl")), "the kill came before any part was finished"
    build.main(tree, output_dir=out, longest_side=600, run=RunArgs(workers=1))
    ids = [r["custom_id"] for r in requests_in(out)]  # every line parses: nothing torn
    assert ids == [f"p{i:02d}.pdf" for i in range(24)]
    assert not list(out.glob(".*partial"))


def _run_batches(folder, **kwargs):
    return runopenaibatch.main(folder, **{**FAST, **kwargs})


def test_batch_lifecycle_end_to_end_with_expiry_and_partial_results(pdf_tree, tmp_path, openai_stub, caplog):
    reqs = tmp_path / "reqs"
    build.main(pdf_tree, output_dir=reqs, longest_side=300)
    openai_stub.scenarios["batch_requests_0000.jsonl"] = "expire_half"
    assert _run_batches(reqs) == 0
    state = json.loads((reqs / STATE_NAME).read_text())
    first = state["batch_requests_0000.jsonl"]
    assert first["note"].startswith("expired; 2 results kept, 2 requests requeued in batch_requests_0000.retry1.jsonl")
    assert state["batch_requests_0000.retry1.jsonl"]["state"] == "completed"
    done = tmp_path / "reqs_done"
    assert (done / f"{first['batch_id']}_errors.jsonl").exists()  # the error file is kept, not discarded
    assert openai_stub.files == {}  # inputs, outputs and error files deleted remotely
    out = tmp_path / "out"
    assert process.main(done, str(pdf_tree), out) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.md")) == [
        "a/p0.md",
        "a/p1.md",
        "b/x.pdf-3.md",
        "c.md",
    ]
    page = read_page_markdown(out / "b" / "x.pdf-3.md")
    assert page.natural_text == "Transcribed b/x.pdf-3.pdf" and page.primary_language == "en"
    assert (out / "c.pdf").read_bytes() == (pdf_tree / "c.pdf").read_bytes()
    # the API key went out in the Authorization header and nowhere else
    assert all(h.get("authorization") == f"Bearer {SECRET_KEY}" for _, _, h in openai_stub.requests)
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET_KEY.encode() not in written and SECRET_KEY not in caplog.text
    assert _run_batches(reqs) == 0  # a rerun has nothing left to do
    assert sum(1 for m, p, _ in openai_stub.requests if m == "POST" and p == "/v1/files") == 2


def test_failed_batch_upload_limit_and_new_files_picked_up(tmp_path, openai_stub):
    reqs = tmp_path / "reqs"
    reqs.mkdir()
    line = batch_io.chat_request_line("c.pdf", {"model": "m"})
    (reqs / "bad.jsonl").write_text(line + "\n")
    (reqs / "errors.jsonl").write_text('{"item": "x", "error": "not a request file"}\n')
    openai_stub.scenarios["bad.jsonl"] = "failed"
    assert _run_batches(reqs) == 1
    state = json.loads((reqs / STATE_NAME).read_text())
    assert list(state) == ["bad.jsonl"] and state["bad.jsonl"]["state"] == "errored_out"
    assert "invalid_json: bad line" in state["bad.jsonl"]["note"]
    (reqs / "later.jsonl").write_text(line + "\n")  # added after the first run: picked up now
    openai_stub.upload_failures = 5
    assert _run_batches(reqs, max_upload_attempts=3) == 1
    state = json.loads((reqs / STATE_NAME).read_text())
    assert state["later.jsonl"]["state"] == "could_not_upload" and state["later.jsonl"]["upload_attempts"] == 3
    assert "upload rejected" in state["later.jsonl"]["note"]


def test_corrupt_state_file_recovers_in_flight_batches_without_reuploading(tmp_path, openai_stub):
    reqs = tmp_path / "reqs"
    reqs.mkdir()
    (reqs / "one.jsonl").write_text(batch_io.chat_request_line("c.pdf", {"model": "m"}) + "\n")
    from openai import OpenAI

    client = OpenAI()
    uploaded = client.files.create(file=(reqs / "one.jsonl").open("rb"), purpose="batch")
    client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"source_file": "one.jsonl", "folder": "reqs"},
    )
    (reqs / STATE_NAME).write_text('{"one.jsonl": {"filename": "one.jsonl", "sta')  # torn by a crash
    assert _run_batches(reqs) == 0
    assert sum(1 for m, p, _ in openai_stub.requests if m == "POST" and p == "/v1/files") == 1  # not re-uploaded
    assert len(list(reqs.glob(f"{STATE_NAME}.corrupt-*"))) == 1
    assert json.loads((reqs / STATE_NAME).read_text())["one.jsonl"]["state"] == "completed"


def test_storage_check_and_missing_key(tmp_path, openai_stub, monkeypatch):
    reqs = tmp_path / "reqs"
    reqs.mkdir()
    (reqs / "one.jsonl").write_text(batch_io.chat_request_line("c.pdf", {}) + "\n")
    with pytest.raises(InputError, match="--max_gb"):  # 2 x 51 GiB > the 100 GiB account cap
        runopenaibatch.main(reqs, max_gb=51)
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(InputError, match="OPENAI_API_KEY is not set"):
        runopenaibatch.main(reqs)


def _result_line(custom_id, page=None, status=200, **choice):
    content = json.dumps(page) if page is not None else None
    body = {
        "choices": [
            {
                "message": {"content": content, "refusal": choice.get("refusal")},
                "finish_reason": choice.get("finish", "stop"),
            }
        ]
    }
    return json.dumps({"custom_id": custom_id, "response": {"status_code": status, "body": body}, "error": None})


PAGE = {
    "primary_language": "de",
    "is_rotation_valid": False,
    "rotation_correction": 180,
    "is_table": True,
    "is_diagram": False,
    "natural_text": "Tabelle\n",
}


def test_process_results_layouts_failures_and_exact_markdown(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "single.pdf").write_bytes(make_pdf([letter("single")]))
    (src / "sub" / "x.pdf-3.pdf").write_bytes(make_pdf([letter("legacy")]))
    (src / "multi.pdf").write_bytes(make_pdf([letter("one"), letter("two", rotate=90)]))
    results = tmp_path / "results"
    results.mkdir()
    (results / "b1.jsonl").write_text(
        "\n".join(
            [
                _result_line("sub/single.pdf", PAGE),
                _result_line("multi.pdf#page=2", {**PAGE, "natural_text": None, "primary_language": None}),
                _result_line("sub/x-3", PAGE),  # the original builder's id: found through the `.pdf-3.pdf` fallback
                _result_line("sub/missing.pdf", PAGE),
                _result_line("sub/refused.pdf", refusal="no"),
                _result_line("sub/rot.pdf", {**PAGE, "rotation_correction": 45}),
                _result_line("../escape.pdf", PAGE),
                "{not json",
            ]
        )
        + "\n"
    )
    (results / "_meta.json").write_text("{}")
    out = tmp_path / "out"
    assert process.main(results, str(src), out) == 1
    assert (out / "sub" / "single.md").read_text() == (
        "---\nprimary_language: de\nis_rotation_valid: False\nrotation_correction: 180\nis_table: True\n"
        "is_diagram: False\n---\nTabelle"
    )
    assert (out / "multi_page2.md").read_text().startswith("---\nprimary_language: null\n")
    assert (out / "multi_page2.md").read_text().endswith("---")
    import pypdfium2 as pdfium

    page_pdf = pdfium.PdfDocument(out / "multi_page2.pdf")
    assert len(page_pdf) == 1 and page_pdf[0].get_rotation() == 90
    page_pdf.close()
    assert (out / "sub" / "x-3.pdf").read_bytes() == (src / "sub" / "x.pdf-3.pdf").read_bytes()
    errors = (out / "errors.jsonl").read_text()
    for expected in ("no source PDF", "refused", "invalid page JSON", "not a relative path", "undecodable"):
        assert expected in errors
    assert json.loads((out / "_meta.json").read_text())["counts"]["failed"] == 5


def test_clear_all_files_needs_confirmation(tmp_path, openai_stub, capsys):
    openai_stub.add_file("a.jsonl", b"x" * 10, "batch")
    openai_stub.add_file("b.jsonl", b"y" * 5, "batch")
    assert runopenaibatch.main(tmp_path, clear_all_files=True) == 1  # no TTY to confirm: nothing deleted
    assert len(openai_stub.files) == 2 and "Nothing deleted" in capsys.readouterr().out
    assert runopenaibatch.main(tmp_path, clear_all_files=True, yes=True) == 0
    assert openai_stub.files == {}
