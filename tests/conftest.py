"""Shared fixtures: tiny random models of each family saved like real checkpoints, sample pairs, offline env."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _offline_and_seeded(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setattr(sys, "argv", ["vlm_ocr"])  # LightningCLI warns when args= and a real argv are both set
    torch.manual_seed(0)
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL + the real Qwen tokenizer, written with save_pretrained."""
    from vlm_ocr.model.architecture import make_model_folder

    return make_model_folder(tmp_path_factory.mktemp("models") / "tiny-qwen2.5-vl", "tiny", seed=0)


FAMILY_PRESETS = {"qwen2_5_vl": "tiny", "qwen3_vl": "qwen3-vl-tiny", "qwen3_5": "qwen3.5-tiny"}
"""The tiny preset of each model family (by model_type), for tests parametrised over families."""


@pytest.fixture(scope="session")
def family_model_dir(tmp_path_factory, tiny_vlm_dir):
    """model_type -> that family's tiny random model folder (real tokenizer files), each built once per session."""
    from vlm_ocr.model.architecture import make_model_folder

    built = {"qwen2_5_vl": tiny_vlm_dir}

    def folder(model_type: str) -> Path:
        if model_type not in built:
            preset = FAMILY_PRESETS[model_type]
            built[model_type] = make_model_folder(tmp_path_factory.mktemp("models") / preset, preset, seed=0)
        return built[model_type]

    return folder


@pytest.fixture(scope="session")
def processor(tiny_vlm_dir):
    from vlm_ocr.data.processor import load_processor

    return load_processor(str(tiny_vlm_dir))


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory) -> Path:
    """Generated pairs: OUT/train and OUT/eval with every kind of page (2 train + 1 eval per kind)."""
    from vlm_ocr.prep.demo_pairs import generate_sample_data

    return generate_sample_data(tmp_path_factory.mktemp("sample") / "data", train_per_kind=2, eval_per_kind=1)


@pytest.fixture
def shared_fixtures() -> Path:
    folder = SHARED / "fixtures"
    if not folder.is_dir():
        pytest.skip("../shared/fixtures is not present beside the checkout")
    return folder


@pytest.fixture
def pair_copy(tmp_path, sample_data_dir):
    """Copy some generated pairs into a fresh tree and return a function adding more files to it."""
    root = tmp_path / "tree"
    shutil.copytree(sample_data_dir / "train" / "document", root / "document")

    def add(relative: str, data: bytes | str) -> Path:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    return root, add


@pytest.fixture
def cli_env(tmp_path, monkeypatch, tiny_vlm_dir, sample_data_dir):
    """Arguments that point the real experiment configs at the tiny model and sample data, in a temp run dir."""
    monkeypatch.chdir(tmp_path)
    os.environ.pop("PL_TRAINER_ACCELERATOR", None)
    return [
        "--model.pretrained",
        str(tiny_vlm_dir),
        "--data.data_root",
        str(sample_data_dir),
        "--trainer.default_root_dir",
        str(tmp_path / "runs"),
    ]


@pytest.fixture
def one_thread():
    """The same thread count in every run of a comparison (CPU reductions depend on it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def file_server():
    from local_servers import FileServer

    server = FileServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _moto_server():
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_client(_moto_server, monkeypatch):
    """A boto3 client of the local S3-compatible server (objects made apart from the fs layer under test).

    The fs layer reaches the same server through AWS_ENDPOINT_URL; its per-process filesystem is dropped before
    and after, so it is made with this test's environment.
    """
    import boto3

    from vlm_ocr.prep import fs

    for key, value in {
        "AWS_ENDPOINT_URL": _moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    fs._s3_filesystem.cache_clear()
    yield boto3.client("s3")
    fs._s3_filesystem.cache_clear()


@pytest.fixture
def s3_bucket(s3_client):
    """A fresh bucket on the local S3-compatible server."""
    bucket = f"bucket-{len(s3_client.list_buckets()['Buckets'])}"
    s3_client.create_bucket(Bucket=bucket)
    yield bucket
