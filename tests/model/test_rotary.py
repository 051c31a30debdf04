"""Rotary frequencies stay float32 through bf16-true training, casts and export: the angles of pretraining."""

import torch
from rotary_state import FLOAT32_AND_FRESH, FrequencyRecorder, frequencies_state
from tiny_setup import exporting_fit_args

from vlm_ocr.experiment_cli import build_cli
from vlm_ocr.model.generate import model_inputs
from vlm_ocr.model.loading import load_model
from vlm_ocr.model.rotary import rotary_modules


def test_bf16_true_fit_trains_with_float32_frequencies_and_matches_its_export(cli_env, tmp_path):
    export = tmp_path / "export"
    precision = ["--trainer.precision", "bf16-true", "--model.dtype", "bfloat16", "--trainer.limit_val_batches", "0"]
    precision += ["--trainer.accumulate_grad_batches", "2"]
    cli = build_cli(exporting_fit_args(cli_env, export, *precision), run=False)
    recorder = FrequencyRecorder()
    cli.trainer.callbacks.append(recorder)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert next(cli.model.model.parameters()).dtype == torch.bfloat16  # the precision plugin did cast the module
    expected = {key: FLOAT32_AND_FRESH for key in frequencies_state(cli.model.model)}
    assert len(expected) == 4 and recorder.seen == [expected] * 4  # 2 steps x accumulation 2

    trained = cli.model.model.eval()
    reloaded = load_model(str(export), "bfloat16", "sdpa").eval()
    datamodule = cli.datamodule
    batch = datamodule.val_dataloader()[0].collate_fn([datamodule.eval_sets[0][0]])
    with torch.no_grad():
        ours, theirs = trained(**model_inputs(batch)).logits, reloaded(**model_inputs(batch)).logits
    torch.testing.assert_close(ours, theirs)  # bf16 tolerances


def test_casts_keep_the_frequencies_and_follow_the_device(tiny_vlm_dir):
    """`.to(dtype)` (Lightning's precision plugins), `.bfloat16()` / `.half()` (DeepSpeed's engine) and a copy."""
    import copy

    model = load_model(str(tiny_vlm_dir), "bfloat16", "sdpa")
    model.to(torch.bfloat16).half().bfloat16()
    clone = copy.deepcopy(model).to(torch.float16)
    for cast in (model, clone):
        state = frequencies_state(cast)
        assert len(state) == 4 and set(state.values()) == {FLOAT32_AND_FRESH}
    assert next(clone.parameters()).dtype == torch.float16
    model.to("meta")
    assert {module.inv_freq.device.type for module in rotary_modules(model)} == {"meta"}
