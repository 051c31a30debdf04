"""The export on the GPU (and, when vllm is installed, served by vLLM): run with -m gpu on a CUDA machine."""

import pytest
from export_settings import FAST_PARITY

from vlm_ocr.export.run import export_model

pytestmark = pytest.mark.gpu


def test_export_on_cuda_is_exact_in_bf16_and_bounded_in_fp8(full_checkpoints, tmp_path):
    bf16 = export_model([str(full_checkpoints[1])], out=tmp_path / "bf16", device="cuda", parity=FAST_PARITY).parity
    assert bf16.exact and bf16.passed and bf16.max_abs_diff == 0.0
    fp8 = export_model(
        [str(full_checkpoints[1])], out=tmp_path / "fp8", quantize="fp8", device="cuda", parity=FAST_PARITY
    ).parity
    assert fp8.passed and fp8.max_abs_diff <= 0.1 * fp8.max_abs_logit


def test_vllm_loads_and_generates_from_the_fp8_folder(full_checkpoints, tmp_path):
    pytest.importorskip("vllm", reason="the vLLM check needs vllm installed")
    export_model(
        [str(full_checkpoints[1])],
        out=tmp_path / "fp8",
        quantize="fp8",
        device="cuda",
        vllm_check=True,
        parity=FAST_PARITY,
    )
    assert (tmp_path / "fp8" / "config.json").exists()
