"""model.compile compiles the decoder layers that training really runs, with the same loss and gradients."""

import pytest
import torch
from tiny_setup import datamodule, module
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
