"""The GRPO stage through the command line a user runs: `fit --config experiments/grpo_synth_1025.yaml` with the
CPU overlay, a tiny model and a bench folder built from generated pages."""

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from bench_folder import bench_from_pairs

from vlm_ocr.cli import main
from vlm_ocr.data.bench_datamodule import BenchPageDataModule
from vlm_ocr.data.interface import page_data
from vlm_ocr.data.predict_pages import PdfPageDataset
from vlm_ocr.data.transforms import BuildMessages, RenderPage

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
RECIPE = str(EXPERIMENTS / "grpo_synth_1025.yaml")
TINY = str(EXPERIMENTS / "overlays" / "grpo-tiny.yaml")
LOGGED = [  # what a researcher reads of each step (issue point 6)
    "train/loss",
    "train/reward",
    "train/reward/unit_tests",
    "train/reward/front_matter",
    "train/reward/end_of_turn",
    "train/pass_rate/present",
    "train/pass_rate/baseline",
    "train/reward_std",
    "train/zero_variance_share",
    "train/completion_length/mean",
    "train/completion_length/max",
    "train/truncated_share",
    "train/kl",
    "train/clip_fraction",
    "train/rollout_tokens_per_s",
    "val/reward",
]


@pytest.fixture(scope="module")
def benches(sample_data_dir, tmp_path_factory):
    """Training pages (documents and tables, with bad lines the run must list) and held-out pages."""
    root = tmp_path_factory.mktemp("benches")
    train = root / "train"
    for kind in ("document", "table"):
        bench_from_pairs(sample_data_dir / "train" / kind, train / kind)
    (train / "document" / "extra.jsonl").write_text(
        '{"pdf": "gone.pdf", "page": 1, "id": "gone", "type": "present", "text": "x"}\n{not json\n'
    )
    merged = root / "bench"
    (merged / "pdfs").mkdir(parents=True)
    for part in (train / "document", train / "table"):
        for path in part.rglob("*"):
            if path.is_file():
                target = merged / path.relative_to(part)
                target.parent.mkdir(parents=True, exist_ok=True)
                name = target.with_name(f"{part.name}_{target.name}") if target.suffix == ".jsonl" else target
                name.write_bytes(path.read_bytes())
    held_out = bench_from_pairs(sample_data_dir / "eval" / "document", root / "held_out")
    return merged, held_out


def fit_args(benches, tiny_vlm_dir, tmp_path, *extra):
    train, held_out = benches
    return [
        "fit",
        "--config",
        RECIPE,
        "--config",
        TINY,
        "--data.bench_root",
        str(train),
        "--data.eval_bench_root",
        str(held_out),
        "--model.pretrained",
        str(tiny_vlm_dir),
        "--trainer.default_root_dir",
        str(tmp_path / "runs"),
        "--trainer.logger.init_args.save_dir",
        str(tmp_path / "runs"),
        *extra,
    ]


def test_fit_trains_logs_checkpoints_and_exports(benches, tiny_vlm_dir, tmp_path, monkeypatch):
    """Two optimizer steps of one page x 2 completions of 6 tokens in bf16-true, a held-out page scored before and
    after."""
    monkeypatch.chdir(tmp_path)
    short = ["--trainer.max_steps", "2", "--model.rollout.num_generations", "2", "--model.rollout.max_new_tokens", "6"]
    short += ["--trainer.accumulate_grad_batches", "1", "--trainer.val_check_interval", "2"]
    short += ["--trainer.precision", "bf16-true", "--model.dtype", "bfloat16"]  # the recipe's precision
    assert main(fit_args(benches, tiny_vlm_dir, tmp_path, *short, "--model.table_every_n_steps", "1")) == 0
    run = next((tmp_path / "runs").glob("version_*"))
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    columns = set(rows[0])
    assert not [name for name in LOGGED if name not in columns], sorted(columns)
    steps = [r for r in rows if r.get("train/reward")]
    assert len(steps) == 2  # one row per optimizer step
    assert all(0.0 <= float(r["train/reward"]) <= 3.0 and float(r["train/kl"]) >= 0.0 for r in steps)
    assert {float(r["train/completion_length/max"]) for r in steps} <= {float(n) for n in range(1, 7)}
    assert len([r for r in rows if r.get("val/reward")]) == 2  # before training (ValidateBeforeFit) and at its end
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["stage"] == "grpo" and config["model"]["loss"]["beta"] == 0.01
    table = [json.loads(line) for line in (run / "completions.jsonl").read_text().splitlines()]
    assert {row["step"] for row in table} == {0, 1} and {row["completion"] for row in table} == {0, 1}
    assert all("(present): " in row["verdicts"] and "(baseline): " in row["verdicts"] for row in table)
    report = [json.loads(line)["where"] for line in (run / "bench_report_train.jsonl").read_text().splitlines()]
    assert "test 'gone'" in report and any(where.endswith("extra.jsonl:2") for where in report)
    assert (run / "hf_model" / "config.json").is_file() and (run / "hf_model" / "vlm_ocr_inference.json").is_file()
    checkpoints = sorted(p.name for p in (tmp_path / "runs" / "grpo-tiny" / "checkpoints").glob("*.ckpt"))
    assert checkpoints == ["last.ckpt", "step000002.ckpt"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "--data.bench_root {root}/nowhere: no such folder"),
        ("no-tests", "no page with tests in {root}/no-tests"),
    ],
)
def test_bad_bench_folder_is_one_line(case, message, benches, tiny_vlm_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if case == "no-tests":
        (tmp_path / "no-tests" / "pdfs").mkdir(parents=True)
        (tmp_path / "no-tests" / "pdfs" / "a.pdf").write_bytes(next(benches[0].glob("pdfs/*.pdf")).read_bytes())
        (tmp_path / "no-tests" / "tests.jsonl").write_text("")
    root = str(tmp_path / ("nowhere" if case == "missing" else "no-tests"))
    args = fit_args(benches, tiny_vlm_dir, tmp_path)
    args[args.index("--data.bench_root") + 1] = root
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(root=tmp_path) in err[0] and "Traceback" not in err[0], err


def test_pages_are_rendered_and_prompted_as_the_sft_pipeline(benches, tiny_vlm_dir):
    """The policy sees what it was trained on: the same render step and prompt as SFT's predict path."""
    render, prompt = RenderPage(224), BuildMessages()
    data = BenchPageDataModule(str(tiny_vlm_dir), bench_root=str(benches[0]), render=render, prompt=prompt)
    data.setup("fit")
    item = data.train_set[(0, 0)]
    page = item["page"]
    sft = PdfPageDataset([str(page.pdf_path)], render.spec, data.inputs, prompt)[page.page - 1]
    for key in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw"):
        assert item["inputs"][key].equal(sft[key]), key
    assert [t.id for t in page.tests] and page.reference is not None
    assert data.page_prompt_settings() == (render.spec, prompt({})["messages"])
    assert page_data(data) is data  # what the export and the verbs read of a data module


def test_the_recipe_carries_the_originals_settings(benches, tiny_vlm_dir, tmp_path, monkeypatch):
    """experiments/grpo_synth_1025.yaml parses into the GRPO classes with olmOCR 2's launch settings; the CPU
    overlay parses on top of it (instantiated, nothing loaded)."""
    from vlm_ocr.experiment_cli import build_cli
    from vlm_ocr.rl.module import GrpoModule

    monkeypatch.chdir(tmp_path)
    given = ["--data.bench_root", str(benches[0]), "--model.pretrained", str(tiny_vlm_dir)]
    cli = build_cli(["--config", RECIPE, *given, "--trainer.accelerator", "cpu"], run=False)
    model, data, trainer = cli.model, cli.datamodule, cli.trainer
    assert isinstance(model, GrpoModule) and isinstance(data, BenchPageDataModule)
    assert data.hparams.processor_path == model.hparams.pretrained  # linked, given once
    rollout, loss = model.rollout_spec, model.loss_spec
    assert (rollout.num_generations, rollout.temperature, rollout.max_new_tokens) == (28, 0.7, 3000)
    assert (rollout.top_p, rollout.top_k, rollout.repetition_penalty) == (1.0, 0, 1.0)
    assert (loss.loss_type, loss.beta, loss.epsilon, loss.epsilon_high) == ("grpo", 0.01, 0.2, None)
    assert model.hparams.scale_rewards == "group" and not model.hparams.mask_truncated_completions
    assert (model.hparams.lr_scheduler, model.hparams.warmup_steps) == ("linear", 100)
    opt = model.optimizer_factory([{"params": [torch.nn.Parameter(torch.zeros(1))]}])
    assert (opt.defaults["lr"], opt.defaults["weight_decay"], opt.defaults["betas"]) == (2e-6, 0.0, (0.9, 0.999))
    assert trainer.accumulate_grad_batches * data.hparams.batch_size == 7 and trainer.gradient_clip_val == 1.0
    assert data.render.spec.longest_side == 1288 and data.prompt.prompt == "v4_yaml" and data.prompt.prompt_first
    tiny = build_cli(["--config", RECIPE, "--config", TINY, *given], run=False)
    assert isinstance(tiny.model, GrpoModule) and tiny.model.rollout_spec.num_generations == 4
