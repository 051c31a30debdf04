import re

import pytest
import torch
from export_settings import FAST_PARITY

from vlm_ocr.cli import main
from vlm_ocr.export.checkpoints import CheckpointError
from vlm_ocr.export.parity import ParitySpec
from vlm_ocr.export.run import ParityError, export_model


def leftovers(folder):
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def test_missing_checkpoint(tmp_path, capsys):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        export_model([str(tmp_path / "nope.ckpt")], out=tmp_path / "out")
    assert main(["export", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "out")]) == 2
    assert re.fullmatch(r"export: error: .*nope\.ckpt: no such checkpoint.*\n", capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.ckpt").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="not a Lightning checkpoint"):
        export_model([str(tmp_path / "notes.txt")], out=tmp_path / "out")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        export_model([str(tmp_path / "empty")], out=tmp_path / "out")
    with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
        export_model([str(tmp_path / "junk.ckpt")], out=tmp_path / "out")


def test_checkpoint_of_another_shape(full_checkpoints, lora_checkpoints, other_shape_dir, tmp_path):
    with pytest.raises(CheckpointError, match=r"does not match the base model .*shape of model\.language_model"):
        export_model([str(full_checkpoints[0])], out=tmp_path / "out", base=str(other_shape_dir))
    with pytest.raises(CheckpointError, match=r"does not match the base model .*shape of .*lora_B"):
        export_model([str(lora_checkpoints[0])], out=tmp_path / "out", base=str(other_shape_dir))
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path / "out")


def test_incompatible_checkpoints_are_not_souped(full_checkpoints, other_shape_dir, tmp_path):
    with pytest.raises(CheckpointError, match=r"cannot soup .*narrow with .*step=1.ckpt: shape of .*mlp"):
        export_model([str(full_checkpoints[0]), str(other_shape_dir)], out=tmp_path / "out")


def test_existing_output_is_refused_unless_overwriting(full_checkpoints, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="exists and holds files; pass --overwrite true"):
        export_model([str(full_checkpoints[0])], out=out)
    assert main(["export", str(full_checkpoints[0]), "--out", str(out)]) == 2
    assert re.fullmatch(r"export: error: .*exists and holds files; pass --overwrite true.*\n", capsys.readouterr().err)
    assert (out / "keep.txt").read_text() == "precious"
    export_model([str(full_checkpoints[0])], out=out, overwrite=True, parity=FAST_PARITY)
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").exists()
    assert not leftovers(out)


def test_failed_parity_fails_the_export_and_writes_nothing(full_checkpoints, tmp_path):
    out = tmp_path / "out"
    strict = ParitySpec(pages=1, longest_side=112, new_tokens=2, fp8_bound=1e-6)
    with pytest.raises(ParityError, match="exceeds the bound") as failure:
        export_model([str(full_checkpoints[0])], out=out, quantize="fp8", parity=strict)
    assert failure.value.report.max_abs_diff > failure.value.report.bound > 0
    assert not out.exists() and not leftovers(out)


def test_calibration_needs_fp8(full_checkpoints, tmp_path):
    with pytest.raises(ValueError, match="only applies with --quantize fp8"):
        export_model([str(full_checkpoints[0])], out=tmp_path / "out", calibration_pdfs=[str(tmp_path)])


def test_checkpoint_that_lost_weights(full_checkpoints, tmp_path):
    raw = torch.load(full_checkpoints[0], weights_only=False)
    del raw["state_dict"]["model.lm_head.weight"]
    torch.save(raw, tmp_path / "partial.ckpt")
    with pytest.raises(CheckpointError, match="missing lm_head.weight"):
        export_model([str(tmp_path / "partial.ckpt")], out=tmp_path / "out")
