"""mine_html_pages end to end: real PDFs, the real local chat server, Chromium; the output scored by `vlm_ocr bench`
and its pairs read by `inspect-data`; resume, retries, drops, the key never written, and the user's mistakes."""

import contextlib
import io
import json
import os
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
    assert sorted(({k: n[k] for k in ("item", "reason")} for n in remembered), key=str) == sorted(lines, key=str)
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
    spent_on_drops = sum(json.loads(p.read_text())["tokens_in"] for p in record_path.parent.glob("*.dropped.json"))
    assert spent_on_drops > 0 and meta["counts"]["processed"] == 1
    assert meta["counts"]["bench"]["tokens_in"] == record["tokens_in"] + spent_on_drops
    assert meta["counts"]["bench"]["tests_dropped_failing_the_reference"] == record["tests_failed_by_reference"]
    assert f"{stem}: {len(tests)} tests, {record['tokens_in']} tokens in" in mined["log"]


def test_the_conversation_is_the_originals(mined):
    requests = mined["server"].chat_requests  # four pages' requests, in the order two workers sent them

    def the_good_pages(marker: str, size: str) -> dict:
        (request,) = [r for r in requests if marker in json.dumps(r) and size in json.dumps(r)]
        return request

    html_request = the_good_pages("Render this document", "fixed viewport size of 768 pixels wide by 1024 pixels tall")
    assert "single-column" in html_request["messages"][0]["content"][1]["text"]  # the analysis it was given
    assert html_request["temperature"] == 0.2 and html_request["max_completion_tokens"] == 20000
    refinement = the_good_pages("two images", "viewed at 768x1024 pixels")
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


def test_the_rl_stage_reads_the_bench_folder(mined, tiny_vlm_dir, tmp_path):
    """The GRPO stage's data module takes every mined page with all its tests and its reference, leaves nothing
    out, and prompts it as the SFT pipeline does."""
    from vlm_ocr.data.bench_datamodule import BenchPageDataModule

    data = BenchPageDataModule(str(tiny_vlm_dir), bench_root=str(mined["bench"]), report_dir=str(tmp_path))
    data.setup("fit")
    assert (tmp_path / "bench_report_train.jsonl").read_text() == ""  # nothing left out
    read = data.train_set
    tests = [json.loads(line) for line in (mined["bench"] / "synthetic.jsonl").read_text().splitlines()]
    assert len(read.pages) == len({(t["pdf"], t["page"]) for t in tests}) >= 1
    assert sum(len(page.tests) for page in read.pages) == len(tests)
    for page in read.pages:
        assert page.pdf_path.is_file() and page.reference and page.reference.startswith("---\n")
        assert {t.id for t in page.tests} == {t["id"] for t in tests if (t["pdf"], t["page"]) == (page.pdf, page.page)}
    batches = list(data.train_dataloader())
    assert sum(batch["num_pages"] for batch in batches) == len(read.pages) and not any(b["dropped"] for b in batches)
    prompt = batches[0]["inputs"][0]  # rendered and prompted: the chat template around the page's image tokens
    assert prompt["pixel_values"].numel() > 0 and prompt["input_ids"].shape[-1] > prompt["pixel_values"].shape[0] // 4


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


def test_from_html_makes_the_same_page_again_without_a_chat_model(mined, tmp_path):
    """The deterministic half on given HTML: a mined page's HTML (its <meta> keeps name, seed and page size) gives
    the chat run's tests again, id for id; an HTML page from elsewhere is a Letter page; --max-pages stops early."""
    folder = tmp_path / "html"
    folder.mkdir()
    (mined_html,) = (mined["bench"] / "html" / "synthetic").glob("*.html")
    (folder / "mined.html").write_text(mined_html.read_text())
    (folder / "other" / "report.html").parent.mkdir()
    (folder / "other" / "report.html").write_text(html("report"))
    (folder / "ragged.html").write_text(html("ragged"))
    out = tmp_path / "bench"
    code, log = run_tool("--from-html", str(folder), "--out", str(out), "--max-pages", "1", "--run.workers", "1")
    assert code == 0, log
    assert len(list((out / "pages" / "synthetic").glob("*.json"))) == 1  # the first in sorted order, then stop
    code, log = run_tool("--from-html", str(folder), "--out", str(out))
    assert code == 0, log
    assert [line.split('"reason": ')[1] for line in (out / "pages" / "dropped.jsonl").read_text().splitlines()] == [
        '"table 1 is not rectangular"}'
    ]
    chat_run = json.loads(next(p for p in (mined["bench"] / "pages" / "synthetic").glob("report-*.json")).read_text())
    again = json.loads((out / "pages" / "synthetic" / f"{chat_run['pdf_id']}.json").read_text())
    assert again["tests"] == chat_run["tests"] and again["page"] == chat_run["page"]
    (other,) = (out / "pages" / "synthetic").glob("other-report-*.json")
    record = json.loads(other.read_text())
    assert record["page"] == 1 and record["requests"] == [] and record["tokens_in"] == 0
    letter_pdf = pypdf.PdfReader(out / "pdfs" / "synthetic" / f"{record['pdf_id']}_page1.pdf").pages[0].mediabox
    assert (round(letter_pdf.width), round(letter_pdf.height)) == (612, 792)


def test_dry_run_projects_the_cost_and_requests_nothing(mined, capsys):
    before = sorted((p.as_posix(), p.stat().st_mtime_ns) for p in mined["bench"].rglob("*"))
    calls = mined["server"].chat_calls
    pdfs = str(mined["root"] / "pdfs" / "*.pdf")
    code, log = run_tool("--pdfs", pdfs, "--out", str(mined["bench"]), "--dry-run", "--max-pages", "10")
    assert code == 0, log
    printed = capsys.readouterr().out
    record = json.loads(next(p for p in (mined["bench"] / "pages" / "synthetic").glob("report-*.json")).read_text())
    assert "4 inputs; 4 pages already in the folder; 0 to mine" in printed
    spent = json.loads((mined["bench"] / "pages" / "_meta.json").read_text())["counts"]["bench"]
    assert spent["tokens_in"] > record["tokens_in"]  # the dropped pages' requests are counted too
    assert f"{spent['tokens_in'] / 4:,.0f} in, {spent['tokens_out'] / 4:,.0f} out (over 4 pages, 1 kept)" in printed
    assert sorted((p.as_posix(), p.stat().st_mtime_ns) for p in mined["bench"].rglob("*")) == before
    assert mined["server"].chat_calls == calls


def one_line(code: int, stderr: str, *names: str) -> str:
    """Exit 2, no traceback, and a last line `mine_html_pages: error: <what> — <fix>` naming each of `names`."""
    assert code == 2 and "Traceback" not in stderr, stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("mine_html_pages: error: ") and " — " in line, line
    assert all(name in line for name in names), line
    return line


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ([], ["--pdfs", "--from-html"]),
        (["--pdfs", "{tmp}/none/*.pdf", "--model", "m"], ["--pdfs", "matches no PDF"]),
        (["--pdfs", "{tmp}/*.pdf"], ["--model"]),
        (["--from-html", "{tmp}/missing"], ["--from-html", "missing"]),
        (["--pdfs", "{tmp}/*.pdf", "--model", "m", "--name", "../up"], ["--name"]),
        (["--pdfs", "{tmp}/*.pdf", "--model", "m", "--chromium", "no-such-browser"], ["--chromium", "not found"]),
    ],
    ids=["no-input", "glob-matches-nothing", "no-model", "no-html-folder", "bad-name", "no-chromium"],
)
def test_bad_input_is_one_line(tmp_path, args, names, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    (tmp_path / "one.pdf").write_bytes(make_pdf([{"width": 612, "height": 792, "text": "x"}]))
    out = tmp_path / "out"
    one_line(*run_tool(*[a.format(tmp=tmp_path) for a in args], "--out", str(out)), *names)
    assert not out.exists()


@pytest.mark.parametrize("failure", ["unreachable", "refused-key", "no-key"])
def test_a_server_that_cannot_serve_stops_the_run_with_one_line(tmp_path, failure, monkeypatch):
    (tmp_path / "a.pdf").write_bytes(make_pdf([{"width": 612, "height": 792, "text": "a"}]))
    (tmp_path / "b.pdf").write_bytes(make_pdf([{"width": 612, "height": 792, "text": "b"}]))
    server = OpenAIStub().start()
    server.accepted_key = "sk-the-right-one"
    url = server.url + "/v1"
    if failure == "unreachable":
        server.stop()
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    if failure == "no-key":
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    args = ["--pdfs", str(tmp_path / "*.pdf"), "--out", str(tmp_path / "out"), "--model", "m", "--base-url", url]
    code, stderr = run_tool(*args, "--run.workers", "2")
    expected = {
        "unreachable": [url.removesuffix("/v1"), "cannot reach"],
        "refused-key": ["refused OPENAI_API_KEY"],
        "no-key": ["OPENAI_API_KEY is not set"],
    }[failure]
    one_line(code, stderr, *expected)
    assert SECRET_KEY not in stderr
    assert not list((tmp_path / "out").rglob("*.pdf")) if (tmp_path / "out").exists() else True
    if failure != "unreachable":
        server.stop()


def test_real_fixture_pages(shared_fixtures, tmp_path, monkeypatch):
    """A real page (olmOCR's fixture) at its own size, answered with fixed HTML by the local server."""
    source = shared_fixtures / "pdfs" / "olmo-page-1.pdf"
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    (pdfs / source.name).write_bytes(source.read_bytes())
    server = OpenAIStub().start()
    server.synth_pages = {"default": {"html": html("report")}}
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    out = tmp_path / "bench"
    args = ["--pdfs", str(pdfs / "*.pdf"), "--out", str(out), "--model", "m", "--base-url", server.url + "/v1"]
    try:
        code, log = run_tool(*args)
    finally:
        server.stop()
    assert code == 0, log
    (record,) = [json.loads(p.read_text()) for p in (out / "pages" / "synthetic").glob("*.json")]
    source_box = pypdf.PdfReader(source).pages[record["page"] - 1].mediabox
    rendered = pypdf.PdfReader(out / "pdfs" / "synthetic" / f"{record['pdf_id']}_page{record['page']}.pdf")
    assert len(rendered.pages) == 1
    assert abs(rendered.pages[0].mediabox.width - source_box.width) < 0.5
    assert max(record["made_from"]["viewport"]) == 1024 and len(record["tests"]) > 10


KILLED_RUN = """
import sys
from data_tools.__main__ import main
main(["mine_html_pages", "--pdfs", sys.argv[1], "--out", sys.argv[2], "--model", "m", "--base-url", sys.argv[3],
      "--run.workers", "1"])
"""


@pytest.mark.slow
def test_a_killed_run_leaves_no_half_written_page(tmp_path):
    """Killed while the second page waits on the chat model: the first page is whole, the second has no file at
    all, and the next run finishes the second only."""
    import signal
    import subprocess
    import sys

    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    for stem in ("a", "b"):
        (pdfs / f"{stem}.pdf").write_bytes(make_pdf([{"width": 612, "height": 792, "text": stem}]))
    server = OpenAIStub().start()
    server.synth_pages = {"default": {"html": html("report")}}
    server.refinements_before_hold = 1
    out = tmp_path / "bench"
    env = os.environ | {"PYTHONPATH": str(REPO), "OPENAI_API_KEY": SECRET_KEY}
    args = [str(pdfs / "*.pdf"), str(out), server.url + "/v1"]
    run = subprocess.Popen([sys.executable, "-c", KILLED_RUN, *args], cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    try:
        assert server.holding.wait(300), "the second page never reached its refinement"
        run.send_signal(signal.SIGKILL)
        run.wait(60)
        records = list((out / "pages" / "synthetic").glob("*.json"))
        assert len(records) == 1
        stem = f"{json.loads(records[0].read_text())['pdf_id']}_page1"
        files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and "pages" not in p.parts)
        assert files == sorted(
            [
                f"claude_original/synthetic/{stem}_pg1_repeat1.md",
                f"html/synthetic/{stem}.html",
                f"originals/synthetic/{stem}.pdf",
                f"pdfs/synthetic/{stem}.pdf",
            ]
        )  # nothing of the second page, no temporary file, and the test file is only written at the end
        server.refinements_before_hold = None
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("OPENAI_API_KEY", SECRET_KEY)
            code, log = run_tool("--pdfs", args[0], "--out", args[1], "--model", "m", "--base-url", args[2])
    finally:
        run.kill()
        server.stop()
    assert code == 0, log
    meta = json.loads((out / "pages" / "_meta.json").read_text())["counts"]
    assert (meta["skipped"], meta["processed"], meta["bench"]["pages"]) == (1, 1, 2)
