"""Two CPU processes (gloo) launched by torchrun through the real CLI: DDP and FSDP2 on the tiny model."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vlm_ocr.cli import main
from vlm_ocr.model.loading import load_model

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "experiments" / "tiny.yaml"
ROOTS = ["train/document", "train/table", "train/list", "train/german"]  # 8 pages, none dropped
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


BF16_RECIPE = {  # the recipe's optimizer on bf16 weights, at an lr the tiny model moves with in 4 steps
    "dtype": "bfloat16",
    "optimizer": {"class_path": "vlm_ocr.optim.Bf16AdamW", "init_args": {"lr": 3e-3, "seed": 300}},
}


def overlay(run: Path, strategy=None, batch_size=1, max_steps=4, ckpt_path=None, bf16=False) -> Path:
    trainer = {
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "limit_val_batches": 0,
        "max_steps": max_steps,
        "accumulate_grad_batches": 2,
        "callbacks": [
            {
                "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                "init_args": {"dirpath": str(run / "ckpt"), "every_n_train_steps": 2, "save_top_k": -1},
            },
            {"class_path": "vlm_ocr.callbacks.Preemption"},
            {"class_path": "vlm_ocr.callbacks.NonFiniteGuard"},
            {"class_path": "recording.Recorder", "init_args": {"out": str(run / "rec")}},
        ],
    }
    if strategy:
        trainer.update(strategy=strategy, devices=2)
    config = {
        "trainer": trainer,
        "callbacks": None,
        "data": {"train_roots": ROOTS, "batch_size": batch_size, "num_workers": 0},
    }
    if bf16:
        trainer["precision"] = "bf16-true"
        config["model"] = BF16_RECIPE
    run.mkdir(parents=True, exist_ok=True)
    (run / "overlay.yaml").write_text(yaml.safe_dump(config))
    return run / "overlay.yaml"


def cli_args(run, tiny_vlm_dir, sample_data_dir, **overlay_args):
    return [
        "fit",
        "--config",
        str(TINY),
        "--config",
        str(overlay(run, **overlay_args)),
        "--model.pretrained",
        str(tiny_vlm_dir),
        "--data.data_root",
        str(sample_data_dir),
        "--trainer.default_root_dir",
        str(run),
    ]


def torchrun(args, run, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_MODE="disabled")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), str(REPO), env.get("PYTHONPATH", "")])
    with open(run / "log.txt", "w") as log:
        process = subprocess.Popen(
            [*TORCHRUN, "-m", "vlm_ocr", *args], env=env, stdout=log, stderr=log, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # torchrun and both workers
                process.wait()
    assert code == 0, (run / "log.txt").read_text()[-4000:]


def rows(run, rank):
    return [json.loads(line) for line in (run / "rec" / f"rank{rank}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, tiny_vlm_dir, sample_data_dir):
    run = tmp_path_factory.mktemp("ddp")
    torchrun(cli_args(run, tiny_vlm_dir, sample_data_dir, strategy="ddp"), run)
    return run


def test_ddp_shards_the_data_and_matches_one_process_with_the_same_global_batch(
    ddp_run, tmp_path, tiny_vlm_dir, sample_data_dir, monkeypatch
):
    first, second = rows(ddp_run, 0), rows(ddp_run, 1)
    assert len(first) == len(second) == 8  # 4 optimizer steps x 2 accumulated batches, on both ranks
    for epoch in (0, 1):  # the ranks split each epoch: disjoint halves that cover all 8 pages
        pages = [{p for r in rank if r["epoch"] == epoch for p in r["pages"]} for rank in (first, second)]
        assert not pages[0] & pages[1] and len(pages[0] | pages[1]) == 8
    assert [r["lr"] for r in first] == [r["lr"] for r in second]

    monkeypatch.syspath_prepend(str(REPO / "tests"))  # the recorder callback
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # one process, batches of 2: the same pages per step and, averaged, the same gradients
        assert main(cli_args(tmp_path, tiny_vlm_dir, sample_data_dir, batch_size=2)) == 0
    finally:
        torch.set_num_threads(threads)
    single = rows(tmp_path, 0)
    assert [r["pages"] for r in single] == [a["pages"] + b["pages"] for a, b in zip(first, second, strict=True)]
    ddp, one = torch.load(ddp_run / "rec" / "weights.pt"), torch.load(tmp_path / "rec" / "weights.pt")
    assert ddp.keys() == one.keys()
    assert max((ddp[k] - one[k]).abs().max().item() for k in ddp) < 1e-5
    initial = load_model(str(tiny_vlm_dir), "float32", "sdpa").state_dict()
    assert max((initial[k] - ddp[k]).abs().max().item() for k in ddp) > 1e-3  # the runs really trained


@pytest.mark.slow
def test_fsdp2_matches_ddp_resumes_exactly_and_exports_one_hf_folder(ddp_run, tmp_path, tiny_vlm_dir, sample_data_dir):
    from vlm_ocr.checkpointing.verified_files import verify

    strategy = {"class_path": "vlm_ocr.strategies.FSDP2Strategy"}
    run = tmp_path / "fsdp"
    torchrun(cli_args(run, tiny_vlm_dir, sample_data_dir, strategy=strategy), run)
    assert rows(run, 0) == rows(ddp_run, 0) and rows(run, 1) == rows(ddp_run, 1)
    fsdp, ddp = torch.load(run / "rec" / "weights.pt"), torch.load(ddp_run / "rec" / "weights.pt")
    assert max((fsdp[k] - ddp[k]).abs().max().item() for k in ddp) < 1e-5

    sharded = run / "ckpt" / "epoch=1-step=4.ckpt"
    manifest = verify(sharded)  # a folder: one shard per rank + metadata, every file checksummed
    assert manifest["global_step"] == 4 and {"__0_0.distcp", "__1_0.distcp", ".metadata"} <= set(manifest["files"])

    resumed = tmp_path / "resumed"  # from the sharded checkpoint at step 2, on two processes again
    args = cli_args(resumed, tiny_vlm_dir, sample_data_dir, strategy=strategy)
    torchrun([*args, "--ckpt_path", str(run / "ckpt" / "epoch=0-step=2.ckpt")], resumed)
    assert rows(resumed, 0) == [r for r in rows(run, 0) if r["step"] >= 2]
    again = torch.load(resumed / "rec" / "weights.pt")
    assert all(torch.equal(again[k], fsdp[k]) for k in fsdp)

    out = tmp_path / "hf"
    flags = ["--dtype", "float32", "--parity.pages", "1", "--parity.longest_side", "112", "--parity.new_tokens", "4"]
    assert main(["export", str(sharded), "--out", str(out), *flags]) == 0
    exported = load_model(str(out), "float32", "sdpa").state_dict()
    assert exported.keys() == fsdp.keys() and all(torch.equal(exported[k], fsdp[k]) for k in fsdp)


@pytest.mark.slow
def test_the_recipe_optimizer_keeps_ddp_replicas_identical_and_resumes_fsdp2_shards_exactly(
    tmp_path, tiny_vlm_dir, sample_data_dir
):
    """Bf16AdamW's stochastic rounding under DDP (every replica must round alike) and FSDP2 (DTensor shards, each
    drawing the bits of its own elements), in bf16, through torchrun and the CLI."""
    ddp = tmp_path / "ddp"
    torchrun(cli_args(ddp, tiny_vlm_dir, sample_data_dir, strategy="ddp", bf16=True), ddp)
    replicas = [torch.load(ddp / "rec" / f"weights_rank{rank}.pt") for rank in (0, 1)]
    assert all(torch.equal(replicas[0][k], replicas[1][k]) for k in replicas[0])
    initial = load_model(str(tiny_vlm_dir), "bfloat16", "sdpa").state_dict()
    update = torch.cat([(replicas[0][k].float() - initial[k].float()).flatten() for k in replicas[0]])
    assert update.norm() > 0.1  # it trained

    strategy = {"class_path": "vlm_ocr.strategies.FSDP2Strategy"}
    fsdp = tmp_path / "fsdp"
    torchrun(cli_args(fsdp, tiny_vlm_dir, sample_data_dir, strategy=strategy, bf16=True), fsdp)
    sharded = torch.load(fsdp / "rec" / "weights.pt")
    other = torch.cat([(sharded[k].float() - initial[k].float()).flatten() for k in replicas[0]])
    assert ((other - update).norm() / update.norm()).item() < 0.05  # the same training, up to bf16 sums

    resumed = tmp_path / "resumed"
    args = cli_args(resumed, tiny_vlm_dir, sample_data_dir, strategy=strategy, bf16=True)
    torchrun([*args, "--ckpt_path", str(fsdp / "ckpt" / "epoch=0-step=2.ckpt")], resumed)
    again = torch.load(resumed / "rec" / "weights.pt")
    assert all(torch.equal(again[k], sharded[k]) for k in sharded)
