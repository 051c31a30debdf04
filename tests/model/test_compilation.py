"""model.compile compiles the decoder layers that training really runs, with the same loss and gradients."""

from pathlib import Path

import pytest
import torch
from tiny_setup import datamodule, module, trainer
from torch._dynamo.utils import counters

from vlm_ocr.data.packing import PackCollator


@pytest.mark.parametrize("model_type", ["qwen2_5_vl", "qwen3_vl", "qwen3_5"])
def test_model_compile_compiles_every_decoder_layer_and_nothing_else(family_model_dir, model_type):
    system = module(family_model_dir(model_type), compile=True)
    system.configure_model()  # the hook fit runs; compiling itself happens lazily, at the first forward
    compiled = [m for m in system.model.modules() if getattr(m, "_compiled_call_impl", None) is not None]
    assert compiled and compiled == list(system.model.get_decoder().layers)


@pytest.mark.slow  # inductor compiles on the CPU for minutes; the test above keeps the wiring in the default suite
def test_compiled_decoder_matches_eager_on_a_packed_batch(tiny_vlm_dir, sample_data_dir):
    data = datamodule(tiny_vlm_dir, sample_data_dir, train="train")
    data.setup("fit")
    samples = [s for s in (data.train_set[(0, i)] for i in range(len(data.train_set))) if "dropped" not in s][:2]
    batch = PackCollator(data.inputs.pad_id, 8192)(samples)
    results = []
    for compiled in (False, True):
        system = module(tiny_vlm_dir, compile=compiled)
        system.configure_model()
        torch._dynamo.reset()
        counters.clear()
        loss = system.compute_loss(batch).loss
        loss.backward()
        grads = {n: p.grad for n, p in system.model.named_parameters() if p.grad is not None}
        results.append((loss.detach(), grads, counters["stats"]["unique_graphs"]))
    (eager_loss, eager_grads, eager_graphs), (loss, grads, graphs) = results
    assert eager_graphs == 0 and graphs > 0  # training's forward went through compiled decoder layers
    torch.testing.assert_close(loss, eager_loss, rtol=1e-5, atol=1e-5)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-5)


RECIPE = Path(__file__).resolve().parents[2] / "experiments" / "mix_1025.yaml"
COUNTED = "vlm_ocr_counting"  # a backend that runs dynamo's graphs as they are and counts their calls
graph_calls = [0]


@torch._dynamo.register_backend(name=COUNTED)
def counting_backend(graph, example_inputs):
    def run(*args):
        graph_calls[0] += 1
        return graph.forward(*args)

    return run


def text_row(length):
    """A one-page row of `length` tokens, the second half the answer (the decoder sees hidden states of that shape,
    whatever the image held)."""
    ids = torch.randint(0, 1000, (1, length), generator=torch.Generator().manual_seed(length))
    labels = ids.clone()
    labels[:, : length // 2] = -100
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def test_the_recipe_compile_settings_stay_compiled_over_50_page_lengths(cli_env):
    """Graphs and recompiles are dynamo's decisions, taken before a backend sees a graph, so a backend that runs the
    captured graphs as they are counts them as inductor would compile them, in seconds instead of minutes."""
    from vlm_ocr.experiment_cli import build_cli
    from vlm_ocr.model.compilation import recompile_limit_hits

    args = ["--config", str(RECIPE), *cli_env, "--trainer.accelerator", "cpu"]
    # float32 on a CPU (bf16 matmuls are slow here); dtype changes no graph or recompile decision
    system = build_cli([*args, "--model.compile_backend", COUNTED, "--model.dtype", "float32"], run=False).model
    assert system.hparams.compile and system.hparams.compile_backend == COUNTED
    system.configure_model()
    layers = len(system.model.get_decoder().layers)
    torch._dynamo.reset()
    counters.clear()
    system.compute_loss(text_row(40))
    per_layer_call = graph_calls[0] / layers  # the layer's graphs (pieces around the attention kernel) per call
    graph_calls[0] = 0
    lengths = [41 + 7 * i for i in range(50)]  # 41 to 384 tokens, every one new
    for length in lengths:
        system.compute_loss(text_row(length))
    assert per_layer_call >= 1 and graph_calls[0] == per_layer_call * layers * len(lengths)  # no call ran eagerly
    assert counters["stats"]["unique_graphs"] <= 3 * per_layer_call  # a static graph, a dynamic one: not 50
    assert recompile_limit_hits() == 0


def test_a_run_past_the_recompile_limit_says_so(tmp_path, tiny_vlm_dir, sample_data_dir):
    """One graph per length (the original's setting) with the limit at 1: the second page length goes eager, and the
    run warns with the fix."""
    from lightning.pytorch.callbacks import Callback

    class DifferentLengths(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.lengths = getattr(self, "lengths", []) + [batch["input_ids"].shape[1]]

    recorder = DifferentLengths()
    system = module(tiny_vlm_dir, compile=True, compile_dynamic=False, compile_backend="eager")
    torch._dynamo.reset()
    counters.clear()
    with torch._dynamo.config.patch(recompile_limit=1), pytest.warns(UserWarning, match="hit its recompile limit"):
        trainer(tmp_path, max_steps=2, callbacks=[recorder]).fit(system, datamodule(tiny_vlm_dir, sample_data_dir))
    assert len(set(recorder.lengths)) == 2
