import json

import torch
import torch.distributed.checkpoint as dcp
from export_settings import FAST_PARITY

from vlm_ocr.cli import main
from vlm_ocr.export.checkpoints import read_checkpoint
from vlm_ocr.export.run import export_model
from vlm_ocr.export.weights import build_model
from vlm_ocr.model.loading import load_model

FAST_FLAGS = ["--parity.pages", "1", "--parity.longest_side", "112", "--parity.new_tokens", "4"]


def test_soup_of_two_checkpoints_is_their_parameter_average(full_checkpoints, tmp_path):
    first, second = (read_checkpoint(c).state for c in full_checkpoints)
    assert not torch.equal(first["lm_head.weight"], second["lm_head.weight"])  # two different points of a run
    out = tmp_path / "soup"
    result = export_model([str(c) for c in full_checkpoints], out=out, dtype="float32", parity=FAST_PARITY)
    assert result.parity.passed and result.parity.max_abs_diff == 0.0
    souped = load_model(str(out), "float32", "sdpa").state_dict()
    assert souped.keys() == first.keys()
    for key, value in souped.items():
        assert torch.equal(value, (first[key] + second[key]) / 2), key
    assert json.loads((out / "export_meta.json").read_text())["souped"] is True


def test_soup_of_lora_runs_averages_the_merged_weights(lora_checkpoints, full_checkpoints, tmp_path):
    out = tmp_path / "soup"
    export_model([str(lora_checkpoints[1]), str(full_checkpoints[1])], out=out, dtype="float32", parity=FAST_PARITY)
    lora = build_model(read_checkpoint(lora_checkpoints[1]), None, "float32").state_dict()  # merged in memory
    full = read_checkpoint(full_checkpoints[1]).state
    souped = load_model(str(out), "float32").state_dict()
    assert all(torch.equal(souped[k], (lora[k] + full[k]) / 2) for k in souped)


def test_sharded_checkpoint_folder_exports_bf16_exactly_through_the_cli(full_checkpoints, tmp_path, capsys):
    raw = torch.load(full_checkpoints[1], weights_only=False)
    sharded = tmp_path / "sharded.ckpt"  # the layout Lightning's FSDP/ModelParallel strategies write
    dcp.save({"model": raw.pop("state_dict")}, checkpoint_id=sharded)
    torch.save({k: v for k, v in raw.items() if k != "optimizer_states"}, sharded / "meta.pt")
    out = tmp_path / "bf16"
    assert main(["export", str(sharded), "--out", str(out), "--dtype", "bfloat16", *FAST_FLAGS]) == 0
    printed = capsys.readouterr().out
    assert f"{out}\nparity: max |logit diff| 0 (bound 0," in printed and "greedy tokens identical" in printed
    expected = read_checkpoint(full_checkpoints[1]).state
    exported = load_model(str(out), "bfloat16").state_dict()
    assert all(torch.equal(exported[k], v.to(torch.bfloat16)) for k, v in expected.items())
    meta = json.loads((out / "export_meta.json").read_text())
    assert meta["sources"][0]["kind"] == "sharded" and meta["parity"]["exact"] and meta["dtype"] == "bfloat16"
    assert meta["parity"]["tokens_source"] == meta["parity"]["tokens_exported"]
