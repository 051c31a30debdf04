"""The model learns to read (slow): fit on pages whose answers only their images hold, then predict them back."""

import csv
import io
import json
from pathlib import Path

import pytest
from reportlab.pdfgen.canvas import Canvas

from vlm_ocr.cli import main
from vlm_ocr.pages.front_matter import PageResponse, format_page_markdown

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
TINY = str(EXPERIMENTS / "tiny.yaml")
READING = str(EXPERIMENTS / "overlays" / "reading.yaml")
WORDS = ("Apple", "River", "Seven", "Metal", "Tiger", "Zebra")  # six different first answer tokens
PAGE_SIZE = (360, 180)  # points: a label-sized page, the word fills a good part of the image


def word_pdf(word: str) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=PAGE_SIZE, invariant=1)
    canvas.setFont("Helvetica-Bold", 64)
    canvas.drawCentredString(PAGE_SIZE[0] / 2, PAGE_SIZE[1] / 2 - 22, word)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def write_pages(folder: Path, shown_shift: int) -> None:
    """Page i answers WORDS[i] after a front matter identical on every page; its image shows WORDS[i + shift]."""
    folder.mkdir(parents=True)
    for i, word in enumerate(WORDS):
        (folder / f"word_{i}.pdf").write_bytes(word_pdf(WORDS[(i + shown_shift) % len(WORDS)]))
        (folder / f"word_{i}.md").write_text(format_page_markdown(PageResponse("en", True, 0, False, False, word)))


@pytest.mark.slow
def test_the_tiny_model_learns_to_read_the_page(tiny_vlm_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    write_pages(data / "pages", shown_shift=0)
    write_pages(data / "swapped", shown_shift=1)  # each answer with the next page's image
    runs = tmp_path / "runs"
    config = ["--config", TINY, "--config", READING, "--data.data_root", str(data), "--data.num_workers", "0"]
    fit = ["--model.pretrained", str(tiny_vlm_dir), "--data.eval_roots", "{own: pages, swapped: swapped}"]
    assert main(["fit", *config, *fit, "--trainer.logger.init_args.save_dir", str(runs)]) == 0

    rows = [r for r in csv.DictReader(next(runs.rglob("metrics.csv")).open()) if r.get("val/own/loss")]
    before, after = rows[0], rows[-1]  # ValidateBeforeFit, then the validation at the last step
    own, swapped = float(after["val/own/loss"]), float(after["val/swapped/loss"])
    assert abs(float(before["val/own/loss"]) - float(before["val/swapped/loss"])) < 0.05  # random init: blind
    assert swapped > 10 * own and swapped - own > 0.1, (own, swapped)  # another page's image: wrong answer

    out = tmp_path / "predictions"
    exported = next(runs.rglob("hf_model"))
    predict = ["--model.pretrained", str(exported), "--data.predict_paths", json.dumps([str(data / "pages")])]
    callbacks = ["--trainer.callbacks+=vlm_ocr.callbacks.PredictionWriter", f"--trainer.callbacks.out_dir={out}"]
    assert main(["predict", *config, *predict, *callbacks]) == 0
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    answers = {Path(p["source"]).stem: p["text"] for p in predictions}
    exact = [stem for stem, text in answers.items() if text == (data / "pages" / f"{stem}.md").read_text()]
    assert len(answers) == len(WORDS) and len(exact) >= 0.9 * len(WORDS), answers
