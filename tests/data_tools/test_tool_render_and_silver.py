"""renderpdf (rotation, crop box, DPI bounds, broken files) and buildsilver (sampling, filter, S3, the batch chain)."""

import json
import random

import pytest
from pdf_fixtures import letter, make_pdf
from PIL import Image

from data_tools import buildsilver, process_openai_batch_results, renderpdf, runopenaibatch
from data_tools.__main__ import main as dispatch
from vlm_ocr.errors import InputError
from vlm_ocr.pages.prompts import build_openai_silver_data_prompt, extract_raw_text
from vlm_ocr.prep.runner import RunArgs


@pytest.fixture
def pdf_dir(tmp_path):
    root = tmp_path / "pdfs"
    (root / "sub").mkdir(parents=True)
    (root / "portrait.pdf").write_bytes(make_pdf([letter("upright"), letter("turned", rotate=90)]))
    (root / "sub" / "cropped.pdf").write_bytes(make_pdf([letter("crop", cropbox=[0, 0, 306, 792])]))
    (root / "sub" / "tiny.pdf").write_bytes(make_pdf([{"width": 36, "height": 18, "text": "t"}]))
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<")
    return root


def size(path):
    with Image.open(path) as image:
        return image.size


def test_renderpdf_honours_rotation_crop_box_and_dpi_bounds(pdf_dir, tmp_path):
    out = tmp_path / "img"
    assert renderpdf.main(str(pdf_dir), out, longest_side=400, max_dpi=300, run=RunArgs(workers=2)) == 1
    assert size(out / "portrait" / "page_0001.png") == (310, 400)
    assert size(out / "portrait" / "page_0002.png") == (400, 310)  # /Rotate 90 shows landscape
    assert size(out / "sub" / "cropped" / "page_0001.png") == (155, 400)  # crop box, not media box
    assert size(out / "sub" / "tiny" / "page_0001.png") == (150, 75)  # 300 dpi cap, not 800 dpi
    sidecar = json.loads((out / "portrait" / "page_0002.json").read_text())
    assert (sidecar["page"], sidecar["width"], sidecar["height"]) == (2, 400, 310)
    assert "broken.pdf" in (out / "errors.jsonl").read_text()
    assert (
        renderpdf.main(
            str(pdf_dir / "portrait.pdf"), tmp_path / "one", pages=[2, 5], image_format="webp", longest_side=500
        )
        == 1
    )
    assert size(tmp_path / "one" / "portrait" / "page_0002.webp") == (500, 387)
    renderpdf.main(str(pdf_dir / "portrait.pdf"), tmp_path / "low", pages=[1], longest_side=200)
    assert size(tmp_path / "low" / "portrait" / "page_0001.png") == (306, 396)  # 36 dpi floor, not 18 dpi
    assert "page 5 out of range" in (tmp_path / "one" / "errors.jsonl").read_text()
    renderpdf.main(str(pdf_dir), out, longest_side=400, max_dpi=300)  # a rerun skips rendered pages
    assert json.loads((out / "_meta.json").read_text())["counts"] | {"dropped_reasons": {}} == {
        "processed": 0,
        "skipped": 4,
        "dropped": 0,
        "failed": 1,
        "dropped_reasons": {},
    }
    assert renderpdf.main(str(pdf_dir / "sub" / "*.pdf"), tmp_path / "glob", longest_side=400) == 0
    assert sorted(p.relative_to(tmp_path / "glob").as_posix() for p in (tmp_path / "glob").rglob("*.png")) == [
        "cropped/page_0001.png",
        "tiny/page_0001.png",
    ]


def test_renderpdf_real_rotated_and_tiny_fixtures(shared_fixtures, tmp_path):
    pdfs = shared_fixtures / "pdfs"
    out = tmp_path / "img"
    for name in ("edgar-rotated90.pdf", "small_page_size.pdf"):
        assert renderpdf.main(str(pdfs / name), out, longest_side=512, run=RunArgs(workers=1)) == 0
    assert size(out / "edgar-rotated90" / "page_0001.png") == (512, 396)
    assert max(size(out / "small_page_size" / "page_0001.png")) == 512


def test_reservoir_and_page_sampling_are_seeded():
    paths = [f"p{i}" for i in range(100)]
    first = buildsilver.reservoir_sample(paths, 10, random.Random(3))
    assert first == buildsilver.reservoir_sample(paths, 10, random.Random(3)) and len(set(first)) == 10
    assert buildsilver.reservoir_sample(paths[:4], 10, random.Random(3)) != [] and len(first) == 10
    pages = buildsilver.sample_pages(30, 2, 5, random.Random(1))
    assert pages[:2] == [1, 2] and len(pages) == 5 and all(3 <= p <= 30 for p in pages[2:])
    assert buildsilver.sample_pages(2, 3, 5, random.Random(1)) == [1, 2]


ENGLISH = "The history of the country was written by those who were there and it is a long one. " * 6
FRENCH = "Le chat est sur la table et la maison est grande avec des fenetres bleues partout. " * 6
SPAM = "Free download pdf ebook epub mobi free download now and save the file for free. " * 6


def test_buildsilver_filters_samples_and_feeds_the_batch_chain(tmp_path, openai_stub):
    src = tmp_path / "corpus"
    (src / "a").mkdir(parents=True)
    (src / "a" / "book.pdf").write_bytes(make_pdf([letter(ENGLISH[i * 80 : (i + 1) * 80]) for i in range(6)]))
    (src / "a" / "short.pdf").write_bytes(make_pdf([letter("scan")]))
    for name, text in (("french", FRENCH), ("spam", SPAM)):
        (src / f"{name}.pdf").write_bytes(make_pdf([letter(text[i * 90 : (i + 1) * 90]) for i in range(6)]))
    out = tmp_path / "silver"
    assert buildsilver.main(glob_path=str(src / "**" / "*.pdf"), output=out, max_sample_pages=2, first_n_pages=1) == 0
    requests = [json.loads(line) for line in (out / "output_0.jsonl").read_text().splitlines()]
    ids = sorted(r["custom_id"] for r in requests)
    assert len([i for i in ids if i.startswith("a/book.pdf#page=")]) == 2 and "a/book.pdf#page=1" in ids
    assert ids[-1] == "a/short.pdf#page=1" and len(ids) == 3
    counts = json.loads((out / "_meta.json").read_text())["counts"]
    assert counts["dropped_reasons"] == {"filtered: not English": 1, "filtered: download spam": 1}
    body = requests[0]["body"]
    assert body["model"] == "gpt-4o-2024-08-06" and body["max_tokens"] == 6000 and body["logprobs"] is True
    prompt = body["messages"][0]["content"][0]["text"]
    anchor = extract_raw_text(prompt)
    assert anchor.startswith("Page dimensions: 612.0x792.0\n[36x") and prompt == build_openai_silver_data_prompt(anchor)
    # the ids go through the Batch API and come back as single-page pairs
    assert runopenaibatch.main(out, poll_interval_s=0.005, max_poll_interval_s=0.02, max_gb=1) == 0
    pairs = tmp_path / "pairs"
    assert process_openai_batch_results.main(tmp_path / "silver_done", str(src), pairs) == 0
    assert sorted(p.relative_to(pairs).as_posix() for p in pairs.rglob("*.md")) == sorted(
        f"{i.split('.pdf#page=')[0]}_page{i.split('=')[1]}.md" for i in ids
    )
    again = buildsilver.main(glob_path=str(src / "**" / "*.pdf"), output=out, max_sample_pages=2, first_n_pages=1)
    assert again == 0 and json.loads((out / "_meta.json").read_text())["counts"]["skipped"] == 2


def test_buildsilver_s3_glob_and_num_sample_docs(tmp_path, s3_bucket):
    from vlm_ocr.prep import fs

    for i in range(4):
        fs.write_bytes(f"s3://{s3_bucket}/pdfs/d{i}.pdf", make_pdf([letter(f"doc {i}")]))
    fs.write_bytes(f"s3://{s3_bucket}/pdfs/deeper/skip.pdf", make_pdf([letter("not matched by *.pdf")]))
    path_list = tmp_path / "list.txt"
    out = tmp_path / "silver"
    assert (
        buildsilver.main(
            glob_path=f"s3://{s3_bucket}/pdfs/*.pdf",
            output=out,
            no_filter=True,
            num_sample_docs=3,
            run=RunArgs(workers=2),
        )
        == 0
    )
    ids = [json.loads(line)["custom_id"] for line in (out / "output_0.jsonl").read_text().splitlines()]
    assert len(ids) == 3 and all(i.startswith("d") and i.endswith(".pdf#page=1") for i in ids)
    assert json.loads((out / "_meta.json").read_text())["args"]["pdf_root"] == f"s3://{s3_bucket}/pdfs"
    path_list.write_text(f"\ns3://{s3_bucket}/pdfs/d0.pdf\n\n")
    assert buildsilver.main(path_list=path_list, output=tmp_path / "x", no_filter=True) == 0
    with pytest.raises(InputError, match="--first_n_pages"):
        buildsilver.main(glob_path="x", first_n_pages=3, max_sample_pages=2)


def test_buildsilver_on_real_scanned_multipage_and_broken_pdfs(shared_fixtures, tmp_path):
    import shutil

    src = tmp_path / "real"
    src.mkdir()
    for name in ("edgar_image.pdf", "handwriting_bad_ocr.pdf", "failing_anchor_pg4.pdf"):
        shutil.copy(shared_fixtures / "pdfs" / name, src / name)
    (src / "truncated.pdf").write_bytes((shared_fixtures / "pdfs" / "edgar.pdf").read_bytes()[:3000])
    out = tmp_path / "silver"
    assert buildsilver.main(glob_path=str(src / "*.pdf"), output=out, no_filter=True, max_sample_pages=1) == 1
    requests = {
        json.loads(line)["custom_id"]: json.loads(line) for line in (out / "output_0.jsonl").read_text().splitlines()
    }
    assert sorted(cid.split("#page=")[0] for cid in requests) == [
        "edgar_image.pdf",
        "failing_anchor_pg4.pdf",
        "handwriting_bad_ocr.pdf",
    ]  # one sampled page each
    scanned = requests["edgar_image.pdf#page=1"]["body"]["messages"][0]["content"][0]["text"]
    assert "[Image 0x0 to 612x792]" in extract_raw_text(scanned)  # a scan: the anchor is the page image
    assert "truncated.pdf" in (out / "errors.jsonl").read_text()


def test_renderpdf_longest_side_is_exact_for_every_page_size(tmp_path):
    """Page sizes whose scale rounds up a hair (2048 / 625.5 * 625.5 > 2048 in floats) gave 2049 px."""
    sizes = [(625.5, 595.0), (653.1, 612.0), (595.0, 698.1), (612.0, 792.0)]
    (tmp_path / "sizes.pdf").write_bytes(make_pdf([{"width": w, "height": h, "text": "x"} for w, h in sizes]))
    with pytest.raises(SystemExit) as stopped:
        dispatch(["renderpdf", str(tmp_path / "sizes.pdf"), str(tmp_path / "out"), "--longest_side", "2048"])
    assert stopped.value.code == 0
    meta = [json.loads(p.read_text()) for p in sorted((tmp_path / "out" / "sizes").glob("page_*.json"))]
    assert [max(m["width"], m["height"]) for m in meta] == [2048] * len(sizes)
