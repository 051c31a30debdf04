"""Does the reward drive learning? (slow) A tiny model that reads (experiments/overlays/reading.yaml's SFT on six word
pages) is GRPO-trained through `python -m vlm_ocr fit` on the six words moved about the page; its mean reward on
held-out pages (other positions) must rise clearly, and the same run with each group's rewards shuffled across its
completions must not rise."""

import csv
import json
import random
import sys
from pathlib import Path

import pytest
from test_reading_slow import WORDS, word_pdf, write_pages

from vlm_ocr.cli import main
from vlm_ocr.pages.front_matter import PageResponse, format_page_markdown

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SFT = ["--config", str(EXPERIMENTS / "tiny.yaml"), "--config", str(EXPERIMENTS / "overlays" / "reading.yaml")]
GRPO = [
    arg
    for name in ("grpo_synth_1025.yaml", "overlays/grpo-tiny.yaml", "overlays/grpo-reading.yaml")
    for arg in ("--config", str(EXPERIMENTS / name))
]
SFT_STEPS = 600  # a reader that is not perfect yet: about 4 of the 6 words exactly (reading.yaml's comment)
RISE = 0.15  # of the held-out mean reward (0 to 3: unit test + front matter + end of turn)


def word_bench(folder: Path, renderings: int, seed: int) -> Path:
    """The six words, each drawn `renderings` times a little off centre (up to 20 pt across, 10 pt up or down), as
    a bench folder: one `present` test per page (its word) and the reading pages' front matter as the reference."""
    rng = random.Random(seed)
    rows = []
    for copy in range(renderings):
        for i, word in enumerate(WORDS):
            name = f"w{i}_r{copy}"
            pdf = folder / "pdfs" / f"{name}.pdf"
            pdf.parent.mkdir(parents=True, exist_ok=True)
            pdf.write_bytes(word_pdf(word, dx=rng.uniform(-20, 20), dy=rng.uniform(-10, 10)))
            reference = folder / "claude_original" / f"{name}_pg1_repeat1.md"
            reference.parent.mkdir(parents=True, exist_ok=True)
            reference.write_text(format_page_markdown(PageResponse("en", True, 0, False, False, word)))
            rows.append({"pdf": f"{name}.pdf", "page": 1, "id": f"{name}_word", "type": "present", "text": word})
    (folder / "tests.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def in_folder(root: Path, args: list[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setattr(sys, "argv", ["vlm_ocr"])
        assert main(args) == 0


@pytest.fixture(scope="module")
def reader(tiny_vlm_dir, tmp_path_factory):
    """The tiny model after reading.yaml's SFT on the six centred words ({SFT_STEPS} steps), exported."""
    root = tmp_path_factory.mktemp("reader")
    write_pages(root / "data" / "pages")
    runs = root / "runs"
    args = ["fit", *SFT, "--data.data_root", str(root / "data"), "--data.num_workers", "0"]
    args += ["--model.pretrained", str(tiny_vlm_dir), "--trainer.max_steps", str(SFT_STEPS)]
    args += ["--trainer.val_check_interval", str(SFT_STEPS), "--trainer.logger.init_args.save_dir", str(runs)]
    in_folder(root, args)
    return next(runs.rglob("hf_model"))


def held_out_reward(reader: Path, root: Path, *extra: str) -> tuple[float, float]:
    """(before, after) mean reward of the held-out pages, from a GRPO fit on the training pages."""
    train, held_out = word_bench(root / "train", 3, seed=1), word_bench(root / "held_out", 2, seed=2)
    runs = root / "runs"
    args = ["fit", *GRPO, "--model.pretrained", str(reader), "--data.bench_root", str(train)]
    args += ["--data.eval_bench_root", str(held_out), "--trainer.default_root_dir", str(runs)]
    args += ["--trainer.logger.init_args.save_dir", str(runs), *extra]
    in_folder(root, args)
    rows = [r for r in csv.DictReader(next(runs.rglob("metrics.csv")).open()) if r.get("val/reward")]
    return float(rows[0]["val/reward"]), float(rows[-1]["val/reward"])


@pytest.mark.slow
def test_the_held_out_reward_rises_with_real_rewards_and_not_with_shuffled_ones(reader, tmp_path, capsys):
    before, after = held_out_reward(reader, tmp_path / "real")
    shuffled_before, shuffled_after = held_out_reward(reader, tmp_path / "shuffled", "--model.shuffle_rewards", "true")
    with capsys.disabled():
        print(f"\nheld-out reward: real {before:.3f} -> {after:.3f}, ", end="")
        print(f"shuffled {shuffled_before:.3f} -> {shuffled_after:.3f}")
    assert shuffled_before == before  # the same model, pages and sampling seeds before training
    assert after - before > RISE, (before, after)
    assert shuffled_after - shuffled_before < (after - before) / 3, (shuffled_before, shuffled_after)
