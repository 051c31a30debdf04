"""The loss of an optimizer step is the mean over its pages (or answer tokens), however the pages were packed
and accumulated: packs of 3 + 1 pages with accumulation 2 take the same SGD step as 1 page per batch with
accumulation 4 (olmOCR's layout), and as the direct mean over the 4 pages."""

import functools

import pytest
import torch
from tiny_setup import datamodule, module, trainer
from torch.utils.data import DataLoader

from vlm_ocr.data.packing import PackCollator
from vlm_ocr.model.generate import model_inputs
from vlm_ocr.model.loss import answer_token_loss_terms
from vlm_ocr.model.module import VlmOcrModule


def four_pages(tiny_vlm_dir, sample_data_dir):
    data = datamodule(tiny_vlm_dir, sample_data_dir, train="train")
    data.setup("fit")
    items = [data.train_set[(0, i)] for i in range(len(data.train_set))]
    pages = [s for s in items if "dropped" not in s and s["labels"].ne(-100).sum() > 20][:4]
    assert len({int(p["labels"].ne(-100).sum()) for p in pages}) > 1  # unequal answers: weighting matters
    return data, pages


def sgd_module(tiny_vlm_dir, weighting: str) -> VlmOcrModule:
    system = module(tiny_vlm_dir, loss_weighting=weighting)
    system.optimizer_factory = functools.partial(torch.optim.SGD, lr=1.0)  # the update is the gradient itself
    system.configure_model()
    return system


def one_step(tmp_path, tiny_vlm_dir, weighting: str, batches: list[dict], accumulate: int) -> dict[str, torch.Tensor]:
    """The parameter change of one optimizer step of a real Trainer over `batches` (no clipping)."""
    system = sgd_module(tiny_vlm_dir, weighting)
    before = {n: p.detach().clone() for n, p in system.model.named_parameters() if p.requires_grad}
    fit = trainer(tmp_path, max_steps=1, accumulate_grad_batches=accumulate, gradient_clip_val=None)
    fit.fit(system, train_dataloaders=DataLoader(batches, batch_size=None))
    return {n: before[n] - p.detach() for n, p in system.model.named_parameters() if n in before}


def direct_gradient(tiny_vlm_dir, weighting: str, pages: list[dict], collate) -> dict[str, torch.Tensor]:
    """d/dθ of the mean over the pages' (page) or tokens' (token) losses, with every page in one padded batch."""
    system = sgd_module(tiny_vlm_dir, weighting)
    batch = collate(pages)
    hidden = system.model.model(**{**model_inputs(batch), "use_cache": False}).last_hidden_state
    loss, _, _ = answer_token_loss_terms(hidden, system.model.lm_head, batch["labels"], weighting)
    loss.backward()
    return {n: p.grad for n, p in system.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("weighting", ["page", "token"])
def test_packed_accumulated_step_equals_the_mean_over_the_steps_pages(
    tmp_path, tiny_vlm_dir, sample_data_dir, weighting
):
    data, pages = four_pages(tiny_vlm_dir, sample_data_dir)
    collate = data.train_dataloader().collate_fn
    pack = PackCollator(data.inputs.pad_id, 8192)
    expected = direct_gradient(tiny_vlm_dir, weighting, pages, collate)
    one_per_batch = one_step(tmp_path / "a", tiny_vlm_dir, weighting, [collate([p]) for p in pages], accumulate=4)
    packed = one_step(tmp_path / "b", tiny_vlm_dir, weighting, [pack(pages[:3]), pack(pages[3:])], accumulate=2)
    for name, grad in expected.items():
        torch.testing.assert_close(one_per_batch[name], grad, rtol=2e-4, atol=2e-6)
        torch.testing.assert_close(packed[name], grad, rtol=2e-4, atol=2e-6)
    # what averaging each pack on its own and then the packs would have given: a different step
    naive = {n: torch.zeros_like(g) for n, g in expected.items()}
    for part in ([pages[0], pages[1], pages[2]], [pages[3]]):
        for name, grad in direct_gradient(tiny_vlm_dir, weighting, part, collate).items():
            naive[name] += grad / 2
    gap = (naive["lm_head.weight"] - expected["lm_head.weight"]).norm() / expected["lm_head.weight"].norm()
    assert gap > 0.05
