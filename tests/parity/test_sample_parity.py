"""Sample-by-sample parity with olmocr 0.4.27's own pipeline steps (docs/parity.md says how to rerun it)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from cases import EDGE_CASES, copy_fixture_pairs, write_edge_cases
from departures import BY_KEY, DEPARTURES, readme_rows
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
ORIGINAL_VERSION = "0.4.27"
RUNS = {"drop": (8192, "drop"), "truncate": (2000, "truncate")}  # name: (max_length, overlong)
PIXEL_SANITY_BOUND = 40.0  # mean |diff| per channel: anti-aliasing stays far below it, a wrong box or page does not


def missing_requirements() -> list[str]:
    """What the original's steps need here: olmocr itself, poppler and the light modules its steps import."""
    missing = []
    try:
        if importlib.metadata.version("olmocr") != ORIGINAL_VERSION:
            missing.append(f"olmocr=={ORIGINAL_VERSION} (found {importlib.metadata.version('olmocr')})")
    except importlib.metadata.PackageNotFoundError:
        missing.append(f"olmocr=={ORIGINAL_VERSION} (make install)")
    missing += [f"{tool} (apt-get install poppler-utils)" for tool in ("pdftoppm", "pdfinfo") if not shutil.which(tool)]
    light_deps = ("playwright", "ftfy", "omegaconf")  # what its steps import (setup.cfg's dev extra)
    missing += [f"{name} (make install)" for name in light_deps if not importlib.util.find_spec(name)]
    return missing


def build_tree(root: Path, sample_data_dir: Path) -> None:
    write_edge_cases(root / "edge")
    for split in ("train", "eval"):
        shutil.copytree(sample_data_dir / split, root / "sample" / split)
    if SHARED_FIXTURES.is_dir():
        copy_fixture_pairs(SHARED_FIXTURES, root / "fixtures")


def start_original(tree: Path, processor_dir: Path, out: Path) -> subprocess.Popen:
    """olmocr's steps in a subprocess (its own HOME for its equation cache), run while vlm_ocr's passes run."""
    lengths = [arg for n, _ in RUNS.values() for arg in ("--max-length", str(n))]
    command = [sys.executable, str(Path(__file__).with_name("original_pipeline.py")), str(tree), str(processor_dir)]
    env = {**os.environ, "HOME": str(out / "home"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out.mkdir(parents=True)
    command += [str(out), *lengths] + (["--chromium", shutil.which("chromium")] if shutil.which("chromium") else [])
    with open(out / "stderr.txt", "w") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def original_rows(process: subprocess.Popen, out: Path) -> dict[str, dict]:
    assert process.wait(timeout=900) == 0, (out / "stderr.txt").read_text()[-3000:]
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return {str(Path(row["markdown_path"]).resolve()): row for row in rows}


def run_vlm_ocr(tree: Path, tiny_vlm_dir: Path, work: Path, run: str) -> dict[str, dict]:
    """`inspect-data` on the tree with the recipe's pipeline from experiments/mix_1025.yaml."""
    from vlm_ocr.cli import main

    max_length, overlong = RUNS[run]
    recipe = yaml.safe_load((REPO / "experiments" / "mix_1025.yaml").read_text())
    config = work / f"parity-{run}.yaml"
    data = {
        "data_root": str(tree.parent),
        "eval_roots": {"parity": tree.name},
        **{
            role: recipe["data"][role]
            for role in ("read", "page_filters", "text_steps", "render", "target", "messages")
        },
        "text_filters": [math_check_off(step) for step in recipe["data"]["text_filters"]]
        if not shutil.which("chromium")
        else recipe["data"]["text_filters"],
        "train_augmentations": [],  # rotation augmentation off on both sides
        "eval_augmentations": [],
        "max_length": max_length,
        "overlong": overlong,
        "num_workers": 0,
        "max_bad_fraction": 1.0,  # the tree holds bad inputs on purpose
        "index_cache_dir": str(work / "index"),
    }
    config.write_text(yaml.safe_dump({"model": {"pretrained": str(tiny_vlm_dir)}, "data": data}))
    out = work / f"vlm_ocr-{run}.jsonl"
    args = ["inspect-data", "--config", str(REPO / "experiments" / "tiny.yaml"), "--config", str(config)]
    args += ["--trainer.default_root_dir", str(work / "runs"), "--split", "parity", "--limit", "100000"]
    assert main([*args, "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {str(Path(row["markdown_path"]).resolve()): row for row in rows}


def math_check_off(step: dict) -> dict:
    if step["class_path"].endswith("TextRuleFilter"):
        return {**step, "init_args": {**step.get("init_args", {}), "math_check": "off"}}
    return step


@pytest.fixture(scope="module")
def parity(tmp_path_factory, tiny_vlm_dir, sample_data_dir):
    missing = missing_requirements()
    if missing:
        pytest.skip("the original's pipeline cannot run here; missing: " + "; ".join(missing))
    if not shutil.which("chromium"):
        warnings.warn("parity: no chromium: both sides skip the KaTeX step (apt-get install chromium)", stacklevel=2)
    work = tmp_path_factory.mktemp("parity")
    tree = work / "tree"
    build_tree(tree, sample_data_dir)
    original = start_original(tree, tiny_vlm_dir, work / "original")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(work)
            for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("WANDB_MODE", "disabled")):
                patch.setenv(name, value)
            patch.setattr(sys, "argv", ["vlm_ocr"])
            vlm_ocr = {run: run_vlm_ocr(tree, tiny_vlm_dir, work, run) for run in RUNS}
    except BaseException:
        original.kill()
        raise
    original = original_rows(original, work / "original")
    cases = {str((tree / "edge" / f"{case.stem}.md").resolve()): case for case in EDGE_CASES}
    pairs = sorted(str(p.resolve()) for p in tree.rglob("*.md"))
    return {"original": original, "vlm_ocr": vlm_ocr, "cases": cases, "pairs": pairs, "work": work}


def status(row: dict | None, side: str) -> str:
    if row is None:
        return "absent"
    if side == "vlm_ocr":
        return "dropped" if row["dropped"] else "kept"
    return row["status"]


def compare(original: dict | None, vlm_ocr: dict | None, run: str) -> tuple[str, str, bool, str]:
    """Both statuses, whether ids, labels and grid are identical, and what differs."""
    seen = (status(original, "original"), status(vlm_ocr, "vlm_ocr"))
    if seen != ("kept", "kept"):
        return *seen, False, ""
    cut = original[f"cut_{RUNS[run][0]}"]
    diffs = [
        name
        for name, a, b in (
            ("input_ids", cut["input_ids"], vlm_ocr["input_ids"]),
            ("labels", cut["labels"], vlm_ocr["labels"]),
            ("image_grid_thw", original["image_grid_thw"], vlm_ocr["image_grid_thw"]),
        )
        if a != b
    ]
    return *seen, not diffs, ", ".join(diffs)


def test_readme_departure_table_equals_the_list():
    assert readme_rows(REPO / "README.md") == [d.row() for d in DEPARTURES]


def test_every_departure_has_a_case_and_every_case_a_known_departure():
    used = {case.departure for case in EDGE_CASES if case.departure}
    assert used <= set(BY_KEY), used - set(BY_KEY)
    assert used == set(BY_KEY), set(BY_KEY) - used


def length_departure(original: dict | None, run: str) -> str | None:
    """The length departure a sample shows in a run, read from the original's own uncut sequence."""
    if original is None or original["status"] != "kept":
        return None
    max_length, overlong = RUNS[run]
    if overlong == "drop" and original["length"] > max_length:
        return "overlong-drop"
    if overlong == "truncate" and original["prompt_length"] >= max_length:
        return "prompt-overlong"
    return None


@pytest.mark.parametrize("run", list(RUNS))
def test_samples_match_the_original(parity, run):
    unexplained, explained = [], 0
    for path in parity["pairs"]:
        case, original = parity["cases"].get(path), parity["original"].get(path)
        seen = compare(original, parity["vlm_ocr"][run].get(path), run)
        declared = BY_KEY[case.departure] if case and case.departure else None
        declared = declared if declared and run in declared.runs else None
        derived = length_departure(original, run)
        if declared and declared.key in ("overlong-drop", "prompt-overlong") and declared.key != derived:
            unexplained.append(f"{path}: meant to show {declared.key} in the {run} run, but its length does not")
        departure = BY_KEY[derived] if derived else declared
        if departure:
            explained += 1
            if seen[:3] != departure.observed:
                unexplained.append(f"{path}: expected departure {departure.key} {departure.observed}, saw {seen}")
        elif seen[0] != seen[1] or (seen[0] == "kept" and not seen[2]):
            unexplained.append(f"{path}: original {seen[0]}, vlm_ocr {seen[1]} {seen[3]}".strip())
    assert not unexplained, "\n".join(unexplained)
    kept = sum(status(parity["original"].get(p), "original") == "kept" for p in parity["pairs"])
    assert kept >= 30 and explained >= 10  # the comparison covered real samples, not an empty tree


def test_truncate_is_the_original_cut(parity):
    case = next(path for path, c in parity["cases"].items() if c.stem == "long_answer")
    original, vlm_ocr = parity["original"][case], parity["vlm_ocr"]["truncate"][case]
    assert vlm_ocr["truncated"] and len(vlm_ocr["input_ids"]) == 2000
    assert vlm_ocr["input_ids"] == original["cut_2000"]["input_ids"]
    assert vlm_ocr["labels"] == original["cut_2000"]["labels"]


def test_pixel_difference_is_reported(parity, capsys):
    from vlm_ocr.data.transforms import RenderPage

    render = RenderPage(longest_side=1288)  # the recipe's step as mix_1025.yaml configures it
    report = {}
    for path, row in parity["original"].items():
        if row["status"] != "kept":
            continue
        theirs = np.asarray(Image.open(row["image"]).convert("RGB"), dtype=np.int16)
        ours = np.asarray(render.render(str(Path(path).with_suffix(".pdf"))), dtype=np.int16)
        assert ours.shape == theirs.shape, path
        report[path] = float(np.abs(ours - theirs).mean())
    (parity["work"] / "pixel_report.json").write_text(json.dumps(report, indent=1))
    values = np.array(list(report.values()))
    with capsys.disabled():
        print(
            f"\nparity pixels (pdfium vs poppler), {len(values)} pages: mean |diff| {values.mean():.2f}, "
            f"max {values.max():.2f} of 255 ({parity['work'] / 'pixel_report.json'})"
        )
    assert values.max() < PIXEL_SANITY_BOUND, max(report, key=report.get)
