"""The parsed config of each experiment and overlay against the one captured in tests/assets/parsed_configs.json
(tests/test_configs.py compares them on the CLIs it builds anyway: no extra cost).

The capture was taken before the callbacks became a named mapping and the pipeline got its roles: the configs a
user runs did not change with that. `VLM_OCR_CAPTURE_CONFIGS=1 pytest tests/test_configs.py` writes it anew.
"""

import json
import os
from pathlib import Path

from vlm_ocr.data.pipeline import ROLES

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "experiments"
CAPTURE = Path(__file__).parent / "assets" / "parsed_configs.json"


def key(*configs: Path) -> str:
    return " + ".join(str(config.relative_to(ROOT)) for config in configs)


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


def assert_as_captured(cli, configs: tuple[Path, ...], tiny_vlm_dir, sample_data_dir, tmp_path) -> None:
    """The built CLI's config equals the capture of the same --config files (when captured)."""
    config = cli.config.as_dict()
    config.pop("config", None)  # the --config paths given
    paths = {str(tiny_vlm_dir): "<model>", str(sample_data_dir): "<data>", str(tmp_path): "<tmp>", str(REPO): "<repo>"}
    ours = as_captured(json.loads(json.dumps(placeholders(config, paths), default=str)))
    captured = json.loads(CAPTURE.read_text()) if CAPTURE.is_file() else {}
    if os.environ.get("VLM_OCR_CAPTURE_CONFIGS"):
        captured[key(*configs)] = ours
        CAPTURE.write_text(json.dumps(captured, indent=1, sort_keys=True) + "\n")
    if key(*configs) in captured:  # an experiment or overlay added since has no capture
        assert ours == captured[key(*configs)]
