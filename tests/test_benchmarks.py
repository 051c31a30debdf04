"""The benchmark scripts run end to end (CPU smoke runs; figures are not asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_script(*args, timeout=300):
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_train_throughput_cpu_smoke(tmp_path):
    out = tmp_path / "train.json"
    run_script(
        "benchmarks/train_throughput.py",
        "--mode",
        "cpu",
        "--pages",
        "2",
        "--accumulate",
        "2",
        "--longest-side",
        "224",
        "--json",
        str(out),
    )
    report = json.loads(out.read_text())
    names = [r["name"] for r in report["results"]]
    assert names == ["olmocr_style", "vlm_ocr"] and report["pages"] == 2
    for result in report["results"]:
        assert result["pages_per_s"] > 0 and 0 < result["image_tokens"] < result["tokens"]
    assert report["results"][0]["tokens"] == report["results"][1]["tokens"]  # the same pages on both sides
    assert report["ratio_pages_per_s"] > 0
    assert report["attn_implementation"] == "sdpa_varlen" and report["gradient_checkpointing"] is False


def test_data_throughput_smoke():
    report = json.loads(run_script("benchmarks/data_throughput.py", "--pages", "4", "--longest-side", "224"))
    assert report["pages"] == 4 and all(v > 0 for v in report["pages_per_s_per_worker"].values())


def test_attention_throughput_smoke():
    report = json.loads(run_script("benchmarks/attention_throughput.py", "--length", "256", "--repeats", "1"))
    assert sum(report["pages"]) == 256 and len(report["pages"]) == 4
    assert report["sdpa_varlen_ms"] > 0 and report["sdpa_dense_mask_ms"] > 0
    assert 0 < report["useful_share_of_dense_work"] < 0.5


def test_activation_memory_measures_what_checkpointing_keeps_on_the_tiny_preset():
    report = json.loads(run_script("benchmarks/activation_memory.py", "--probe-tokens", "64", "--preset", "tiny"))
    assert report["preset"] == "tiny" and report["parameters_b"] >= report["trainable_parameters_b"] > 0
    kept, saved = (report[f"activation_kb_per_token_per_layer{s}"] for s in ("_gradient_checkpointing", ""))
    assert 0 < kept < saved / 4  # with checkpointing working, a layer keeps only its input


@pytest.mark.slow
def test_activation_memory_projection_runs_on_the_7b_shape():
    report = json.loads(run_script("benchmarks/activation_memory.py", "--probe-tokens", "128"))
    assert report["parameters_b"] > report["trainable_parameters_b"] > 7  # the 7B shape, vision tower frozen
    for projection in report["projected"].values():
        assert projection["peak_gib_gradient_checkpointing"] < projection["peak_gib"]
        assert projection["weights_grads_states_gib"] < projection["peak_gib_gradient_checkpointing"]


@pytest.mark.slow
def test_gpu_mode_dry_run_on_cpu_with_one_7b_layer(tmp_path):
    """The GPU benchmark's own code path (7B shape, bf16, 1288-px pipeline settings) on the CPU with one decoder
    layer: what can break there without a GPU breaks here (about 100 s and 15 GB of memory)."""
    out = tmp_path / "dry.json"
    run_script(
        "benchmarks/train_throughput.py",
        *("--mode", "gpu", "--device", "cpu", "--decoder-layers", "1", "--pages", "2", "--accumulate", "2"),
        *("--longest-side", "224", "--json", str(out)),
        timeout=900,
    )
    report = json.loads(out.read_text())
    assert report["decoder_layers"] == 1 and report["attn_implementation"] == "sdpa_varlen"
    assert report["results"][0]["model_flops"] == report["results"][1]["model_flops"] > 1e12


def test_optimizer_fidelity_smoke():
    args = ["--steps", "3", "--widths", "32", "--only", "original", "optimi"]
    out = run_script("benchmarks/optimizer_fidelity.py", *args)
    report = json.loads(out[out.index("{") :])
    assert report["steps"] == 3
    for mode in ("own_gradients", "shared_gradients"):
        results = report[mode]
        assert results["float32 AdamW (reference)"]["bytes_per_param"] == 16
        assert results["float32 AdamW, final weights rounded to bf16"]["bytes_per_param"] is None
        assert results["torch AdamW on bf16 (the original)"]["bytes_per_param"] == 8
        assert results["optimi AdamW, Kahan summation"]["bytes_per_param"] == 10
        assert "optimi AdamW, Kahan summation: weights + compensation" in results
        assert all(-1 <= r["cosine"] <= 1 and r["norm_ratio"] >= 0 for r in results.values())
    # the same reference trajectory in both modes, so the same bf16 ceiling
    ceiling = "float32 AdamW, final weights rounded to bf16"
    assert report["own_gradients"][ceiling] == report["shared_gradients"][ceiling]


def test_rollout_throughput_cpu_smoke(tmp_path):
    out = tmp_path / "rollout.json"
    run_script(
        "benchmarks/rollout_throughput.py",
        *("--mode", "cpu", "--generations", "2", "--max-new-tokens", "3", "--longest-side", "112", "--json", str(out)),
    )
    report = json.loads(out.read_text())
    batched, single = report["results"]
    assert (batched["name"], single["name"]) == ("batched", "one_at_a_time")
    assert (
        batched["tokens"] == single["tokens"] == 2 * 3
    )  # the same work on both sides: every completion runs to the end
    assert report["ratio_tokens_per_s"] > 0 and report["prompt_tokens"][0] > 0


def test_optimizer_finetune_smoke():
    args = ["--steps", "3", "--ratchet-steps", "3", "--pretrain-steps", "2", "--only", "the recipe"]
    out = run_script("benchmarks/optimizer_finetune.py", *args)
    report = json.loads(out[out.index("\n{") :])  # the report after the per-optimizer lines
    results = report["results"]
    assert list(results) == ["float32 AdamW (reference)", "Bf16AdamW, Kahan weights, bf16 moments (the recipe)"]
    assert results["float32 AdamW (reference)"]["bytes_per_param"] == 16
    assert results["Bf16AdamW, Kahan weights, bf16 moments (the recipe)"]["bytes_per_param"] == 10
    assert report["start_kl"] > 0 and all(r["final_kl"] > 0 for r in results.values())
    assert list(results["Bf16AdamW, Kahan weights, bf16 moments (the recipe)"]["ratchet_v_over_float32"]) == ["step_3"]
