"""The parsed config of every experiment and overlay equals the one captured in tests/assets/parsed_configs.json.

The capture was taken before the callbacks became a named mapping and the pipeline got its roles: the configs a
user runs did not change with that. `VLM_OCR_CAPTURE_CONFIGS=1 pytest tests/test_parsed_configs.py` writes it anew.
"""

import importlib.util
import json
import os
from pathlib import Path

import pytest

from vlm_ocr.data.pipeline import ROLES
from vlm_ocr.experiment_cli import build_cli

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "experiments"
CAPTURE = Path(__file__).parent / "assets" / "parsed_configs.json"
MIX, TINY = "mix_1025.yaml", "tiny.yaml"
COMBINATIONS = [  # (experiment, overlay or None)
    (TINY, None),
    (MIX, None),
    *[(MIX, f"overlays/{name}.yaml") for name in ("ddp", "fsdp", "olmocr-adamw", "one-80gb-gpu", "packed")],
    *[(MIX, f"overlays/{name}.yaml") for name in ("qwen3-vl-8b", "qwen3.5-4b")],
    (MIX, "deepspeed/zero3.yaml"),
    (TINY, "overlays/lora.yaml"),
    (TINY, "overlays/reading.yaml"),
]


def key(experiment: str, overlay: str | None) -> str:
    return experiment if overlay is None else f"{experiment} + {overlay}"


def placeholders(value, paths: dict[str, str]):
    """`value` with the machine's paths (the tiny model, the sample data, the run folder) named by placeholders."""
    if isinstance(value, dict):
        return {k: placeholders(v, paths) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholders(v, paths) for v in value]
    if isinstance(value, str):
        for path, name in paths.items():
            value = value.replace(path, name)
    return value


def as_captured(config: dict) -> dict:
    """The config in the capture's shape: the pipeline's roles as the one `transforms` list they replaced (the
    augmentations were spliced in 2 steps from its end); the named callbacks are in trainer.callbacks by now."""
    assert config.pop("callbacks") is None  # moved, in their order, to the front of trainer.callbacks
    data = config["data"]
    if "render" in data:
        roles = {role: data.pop(role) for role in ROLES}
        lists = [roles[role] or [] for role in ("page_filters", "text_steps", "text_filters")]
        steps = [
            roles["read"],
            *[step for steps in lists for step in steps],
            *[roles[r] for r in ("render", "target", "messages")],
        ]
        data["transforms"] = [step for step in steps if step is not None]
        data["train_transforms"] = roles["train_augmentations"]
        data["eval_transforms"] = roles["eval_augmentations"]
        data["train_insert_from_end"] = 2
    return config


def parsed(experiment: str, overlay: str | None, cli_env: list[str], tiny_vlm_dir, sample_data_dir, tmp_path):
    configs = [ROOT / experiment, *([ROOT / overlay] if overlay else [])]
    args = [arg for config in configs for arg in ("--config", str(config))]
    extra = (
        ["--trainer.strategy", "ddp"]
        if "deepspeed" in str(overlay) and not importlib.util.find_spec("deepspeed")
        else []
    )
    cli = build_cli([*args, *cli_env, "--trainer.accelerator", "cpu", *extra], run=False)
    config = cli.config.as_dict()
    config.pop("config", None)  # the --config paths given
    paths = {str(tiny_vlm_dir): "<model>", str(sample_data_dir): "<data>", str(tmp_path): "<tmp>", str(REPO): "<repo>"}
    return as_captured(json.loads(json.dumps(placeholders(config, paths), default=str)))


@pytest.mark.parametrize(("experiment", "overlay"), COMBINATIONS, ids=lambda v: v or "-")
def test_parsed_config_equals_the_capture(experiment, overlay, cli_env, tiny_vlm_dir, sample_data_dir, tmp_path):
    ours = parsed(experiment, overlay, cli_env, tiny_vlm_dir, sample_data_dir, tmp_path)
    if os.environ.get("VLM_OCR_CAPTURE_CONFIGS"):
        captured = json.loads(CAPTURE.read_text()) if CAPTURE.is_file() else {}
        captured[key(experiment, overlay)] = ours
        CAPTURE.write_text(json.dumps(captured, indent=1, sort_keys=True) + "\n")
    assert ours == json.loads(CAPTURE.read_text())[key(experiment, overlay)]
