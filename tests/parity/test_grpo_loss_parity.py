"""Advantages, log-probabilities, the loss and its gradient equal TRL's GRPOTrainer on the same tiny model,
completions, rewards and settings (TRL is a test-only reference, installed by `make install`)."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from PIL import Image

from vlm_ocr.data.collate import Collator
from vlm_ocr.data.processor import QwenInputs, load_processor
from vlm_ocr.model.generate import end_token_ids
from vlm_ocr.model.loading import load_model
from vlm_ocr.rl.advantages import group_advantages, mask_truncated
from vlm_ocr.rl.logprobs import completion_logprobs, repeat_prompts
from vlm_ocr.rl.losses import PolicyLossSpec, policy_loss
from vlm_ocr.rl.rollout import completion_mask

pytestmark = pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="trl not installed (make install)")

G, MAX_NEW, TEMPERATURE, BETA = 3, 6, 0.7, 0.04
REWARDS = [0.0, 1.0, 0.25, 0.7, 0.7, 0.7]  # the second group has nothing to learn from (zero variance)
MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "Read this page."}, {"type": "image"}]}]


def crafted_rewards(prompts, completions, **kwargs):
    return REWARDS[: len(completions)]


def trl_trainer(model, processor, tmp_path, **settings):
    """TRL's trainer around the tiny model, the way a GRPO run builds it (no vLLM, CPU, float32)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    eos = processor.tokenizer.eos_token_id
    options = dict(
        num_generations=G, per_device_train_batch_size=2 * G, max_completion_length=MAX_NEW, temperature=TEMPERATURE,
        beta=BETA, num_iterations=2, epsilon=0.2, epsilon_high=0.28, use_bias_correction_kl=False, loss_type="bnpo",
        generation_kwargs={"sequence_bias": {(eos,): 7.0}},  # sampling ends some completions early (lengths differ)
    )  # fmt: skip
    args = GRPOConfig(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, bf16=False, logging_steps=1,
        gradient_checkpointing=False, **{**options, **settings},
    )  # fmt: skip
    dataset = Dataset.from_list([{"prompt": MESSAGES, "image": Image.new("RGB", (56, 56), "white")}])
    trainer = GRPOTrainer(model, [crafted_rewards], args, dataset, processing_class=processor)
    trainer.current_gradient_accumulation_steps = args.gradient_accumulation_steps  # its training loop sets this
    return trainer


def page_images():
    """Two pages of one size: TRL 1.16 misaligns mm_token_type_ids under left padding (its image positions shift
    in the shorter prompts), so prompts of different lengths would compare against its mistake
    (tests/rl/test_logprobs.py checks vlm_ocr's padded batches against each row alone)."""
    return [Image.new("RGB", (56, 56), "white"), Image.new("RGB", (56, 56), (90, 160, 30))]


def scored(trainer, images):
    """TRL's own rollout, rewards, advantages and old / reference log-probabilities for G completions a page."""
    inputs = [{"prompt": MESSAGES, "image": image} for image in images for _ in range(G)]
    return trainer._generate_and_score_completions(inputs)


@pytest.fixture(scope="module")
def trl_run(tiny_vlm_dir, tmp_path_factory):
    processor = load_processor(str(tiny_vlm_dir))
    trl_model = load_model(str(tiny_vlm_dir), "float32", "sdpa")  # TRL patches its forward: a copy of its own
    ours = load_model(str(tiny_vlm_dir), "float32", "auto")
    trl_model.train()  # as in a training run: TRL reads the mode (train: accumulation, metrics under "train")
    ours.train()
    tmp = tmp_path_factory.mktemp("trl")
    trainer = trl_trainer(trl_model, processor, tmp)
    out = scored(trainer, page_images())
    prompts = Collator(processor.tokenizer.pad_token_id, "left")(
        [QwenInputs(processor).prompt(MESSAGES, image) for image in page_images()]
    )
    return {"processor": processor, "trl_model": trl_model, "ours": ours, "out": out, "tmp": tmp,
            "prompts": repeat_prompts(prompts, G)}  # fmt: skip


def test_prompts_and_completion_masks_are_trls(trl_run):
    out, prompts, processor = trl_run["out"], trl_run["prompts"], trl_run["processor"]
    assert torch.equal(prompts["input_ids"], out["prompt_ids"])
    assert torch.equal(prompts["attention_mask"], out["prompt_mask"])
    assert torch.equal(prompts["pixel_values"], out["pixel_values"])
    assert torch.equal(prompts["image_grid_thw"], out["image_grid_thw"])
    mask, truncated = completion_mask(out["completion_ids"], end_token_ids(trl_run["ours"], processor.tokenizer))
    assert torch.equal(mask, out["completion_mask"])
    assert truncated.any() and not truncated.all()  # some completions ended, some ran to the limit


def test_logprobs_are_trls_for_old_and_reference(trl_run):
    out = trl_run["out"]
    with torch.no_grad():
        ours = completion_logprobs(
            trl_run["ours"], trl_run["prompts"], out["completion_ids"], out["completion_mask"], TEMPERATURE
        )
    torch.testing.assert_close(ours, out["old_per_token_logps"], atol=2e-5, rtol=0)
    torch.testing.assert_close(ours, out["ref_per_token_logps"], atol=2e-5, rtol=0)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_advantages_are_trls(trl_run, scale):
    out = trl_run["out"]
    if scale != "group":  # a fresh rollout under that setting; truncated completions masked as TRL masks them
        trainer = trl_trainer(
            trl_run["trl_model"], trl_run["processor"], trl_run["tmp"], scale_rewards=scale, beta=0.0,
            num_iterations=1, mask_truncated_completions=True,
        )  # fmt: skip
        out = scored(trainer, page_images())
        mask, truncated = completion_mask(
            out["completion_ids"], end_token_ids(trl_run["ours"], trl_run["processor"].tokenizer)
        )
        assert torch.equal(mask_truncated(mask, truncated), out["completion_mask"])
    ours = group_advantages(torch.tensor(REWARDS), G, scale)
    torch.testing.assert_close(ours.advantages, out["advantages"], atol=0, rtol=0)
    assert ours.zero_variance.tolist() == [False, True] and ours.zero_variance_share() == 0.5
    assert ours.learning_rows().tolist() == [True] * G + [False] * G


LOSS_SETTINGS = [  # every loss type at both ratio levels; each other option once, on top of one of them
    dict(loss_type="grpo", importance_sampling_level="token"),
    dict(loss_type="grpo", importance_sampling_level="sequence", delta=1.1),
    dict(loss_type="bnpo", importance_sampling_level="token"),  # the original's
    dict(loss_type="bnpo", importance_sampling_level="sequence", num_iterations=1),
    dict(loss_type="dr_grpo", importance_sampling_level="token", beta=0.0),
    dict(loss_type="dr_grpo", importance_sampling_level="sequence"),
    dict(loss_type="dapo", importance_sampling_level="token", use_bias_correction_kl=True),
    dict(loss_type="dapo", importance_sampling_level="sequence", epsilon_high=None),
]


def our_spec(settings: dict) -> PolicyLossSpec:
    merged = {"beta": BETA, "epsilon_high": 0.28, "use_bias_correction_kl": False, **settings}
    return PolicyLossSpec(
        merged["loss_type"], merged["importance_sampling_level"], 0.2, merged["epsilon_high"], merged.get("delta"),
        merged["beta"], merged["use_bias_correction_kl"], MAX_NEW,
    )  # fmt: skip


@pytest.mark.parametrize("settings", LOSS_SETTINGS, ids=lambda s: "-".join(f"{v}" for v in s.values()))
def test_loss_and_its_gradient_are_trls(trl_run, settings):
    """TRL's own compute_loss on the policy log-probabilities given as a tensor: the loss and its gradient with
    respect to them (the gradient through the model is the next test's)."""
    out = dict(trl_run["out"])
    if settings.get("num_iterations") == 1:
        out.pop("old_per_token_logps")  # one iteration per rollout: TRL keeps no old log-probabilities
    generator = torch.Generator().manual_seed(3)
    noise = torch.randn(out["completion_ids"].shape, generator=generator) * 0.3
    noise += torch.randn(len(noise), 1, generator=generator) * 0.4  # whole completions move too (sequence ratios)
    values = trl_run["out"]["old_per_token_logps"] + noise  # the policy after some updates: ratios are not 1
    theirs_logps, ours_logps = values.clone().requires_grad_(), values.clone().requires_grad_()
    trainer = trl_trainer(trl_run["trl_model"], trl_run["processor"], trl_run["tmp"], **settings)
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (theirs_logps, torch.zeros_like(values), None)
    theirs = trainer.compute_loss(trl_run["trl_model"], out)
    (theirs_grad,) = torch.autograd.grad(theirs, theirs_logps)
    spec = our_spec(settings)
    ours = policy_loss(
        ours_logps, out["advantages"], out["completion_mask"], spec, out.get("old_per_token_logps"),
        out.get("ref_per_token_logps") if spec.beta else None, out["num_items_in_batch"],
    )  # fmt: skip
    (ours_grad,) = torch.autograd.grad(ours.loss, ours_logps)
    torch.testing.assert_close(ours.loss, theirs, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-5, atol=1e-9)
    metrics = trainer._metrics["train"]
    assert float(ours.clip_region) == pytest.approx(metrics["clip_ratio/region_mean"][-1], abs=1e-7)
    assert float(ours.clip_low) == pytest.approx(metrics["clip_ratio/low_mean"][-1], abs=1e-7)
    if spec.beta:
        assert float(ours.kl) == pytest.approx(metrics["kl"][-1], rel=1e-5)
    if "old_per_token_logps" in out:
        assert ours.clip_region > 0  # the ratios reached the clip range: clipping took part


@pytest.mark.slow  # TRL scores every position of the vocabulary on a CPU: about 15 s
def test_model_gradient_is_trls_with_the_originals_settings(trl_run):
    """The original's loss (bnpo, token ratios, beta 0.01 scaled here to 0.04) end to end: TRL's compute_loss with
    its own forward and backward against vlm_ocr's log-probabilities and loss, after both policies moved."""
    trl_model, ours_model, out = trl_run["trl_model"], trl_run["ours"], trl_run["out"]
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for theirs_p, ours_p in zip(trl_model.parameters(), ours_model.parameters(), strict=True):
            noise = torch.randn(theirs_p.shape, generator=generator) * 0.05
            theirs_p.add_(noise)
            ours_p.add_(noise)
    trainer = trl_trainer(trl_model, trl_run["processor"], trl_run["tmp"])
    trl_model.zero_grad()
    trainer.compute_loss(trl_model, out).backward()
    ours_model.zero_grad()
    logps = completion_logprobs(
        ours_model, trl_run["prompts"], out["completion_ids"], out["completion_mask"], TEMPERATURE
    )
    spec = PolicyLossSpec("bnpo", "token", 0.2, 0.28, beta=BETA)
    ours = policy_loss(
        logps, out["advantages"], out["completion_mask"], spec, out["old_per_token_logps"], out["ref_per_token_logps"]
    )
    ours.loss.backward()
    assert ours.clip_region > 0
    compared = 0
    for (name, theirs_p), ours_p in zip(trl_model.named_parameters(), ours_model.parameters(), strict=True):
        if theirs_p.grad is None:
            assert ours_p.grad is None or not ours_p.grad.any(), name
            continue
        scale = theirs_p.grad.abs().max().clamp(min=1e-12)
        assert (ours_p.grad - theirs_p.grad).abs().max() <= 1e-4 * scale, name
        compared += 1
    assert compared > 20
