"""GrpoModule: olmOCR 2's GRPO stage as a LightningModule (rollout, rewards off-thread, advantages, TRL's loss)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable

from vlm_ocr.data.processor import load_processor
from vlm_ocr.errors import UsageError
from vlm_ocr.model.families import family_of_model
from vlm_ocr.model.generate import GenerationSpec
from vlm_ocr.model.loading import AttnImplementation, DTypeName, load_model
from vlm_ocr.model.parameters import check_same_shapes, decay_parameter_groups, set_trainable
from vlm_ocr.model.peft import LoraSpec, apply_lora, complete_state_dict, trainable_state_dict
from vlm_ocr.model.schedule import step_scheduler
from vlm_ocr.rl.advantages import ScaleRewards, group_advantages, mask_truncated
from vlm_ocr.rl.completion_table import table_rows, write_completions
from vlm_ocr.rl.losses import PolicyLossSpec, policy_loss
from vlm_ocr.rl.policy_passes import FrozenReference, group_logprobs, init_sharded_root, reference_logprobs
from vlm_ocr.rl.reward_pool import RewardPool
from vlm_ocr.rl.rewards import RewardScorer, RewardWeights
from vlm_ocr.rl.rollout import HFRollout, Rollout, RolloutPrompt, RolloutSpec
from vlm_ocr.rl.seeds import sampling_seed
from vlm_ocr.rl.step_stats import StepWindow, length_metrics, reward_metrics, step_metrics


class GrpoModule(L.LightningModule):
    """GRPO with the page's own unit tests as reward, from an SFT model (olmOCR 2's second stage, docs/grpo.md).

    Each training batch is a few bench pages (BenchPageDataModule); for each page the policy samples G completions
    in one batched call, a pool scores them off the training thread while the reference pass runs, and the step's
    loss is TRL's clipped surrogate on group-normalised advantages. Lightning accumulates, clips and steps as in
    the SFT run; DDP and FSDP2 give each rank its own pages (a group never spans ranks).

    Args:
        pretrained: the start model (an SFT export, hub id or folder) and its processor.
        dtype: weight dtype the model loads in.
        attn_implementation: `auto` (flash_attention_2 when installed, else sdpa), or a fixed one.
        train_vision_tower: train the ViT blocks.
        train_merger: train the patch merger(s).
        train_decoder: train the language model and lm_head.
        optimizer: optimizer factory; it receives parameter groups (no decay on biases and norms).
        lr_scheduler: name for `transformers.get_scheduler` (linear, cosine, constant_with_warmup, ...).
        warmup_steps: warmup in optimizer steps (the original: 100).
        scheduler_kwargs: extra `scheduler_specific_kwargs` for get_scheduler.
        rollout: how completions are sampled (G, temperature, max new tokens, ...).
        loss: the policy loss (loss type, ratio level, clipping, beta: 0 loads no reference).
        rewards: the weight of each reward.
        scale_rewards: advantages divided by the group's reward std (`group`), the rollout batch's on all ranks
            (`batch`), or not at all (`none`).
        mask_truncated_completions: completions that hit max_new_tokens take no part in the loss.
        skip_zero_variance_groups: groups whose rewards are all equal take no part in the loss (their advantages
            are 0 anyway; this also removes them from the KL term and the token counts).
        math_tests: `katex` scores math tests with KaTeX in Chromium, as the benchmark; `skip` leaves them out.
        chromium: Chromium executable for math tests.
        reward_workers: threads (or processes) that score completions off the training thread.
        reward_pool: `thread` or `process`.
        sampling_seed: seed of the rollouts, hashed with the optimizer step and the pages: a resumed run samples
            what the uninterrupted one would have, and N processes what one process with N times the accumulation
            would.
        logprob_rows_per_forward: completions per forward pass of the no-grad reference pass (None: all).
        loss_chunk_size: completion tokens per lm_head chunk.
        gradient_checkpointing: recompute decoder activations in backward to save memory.
        lora: train LoRA adapters; the reference is then the same model with its adapters off (no copy).
        shuffle_rewards: a control run: the rewards are permuted across the batch's completions before the
            advantages (a seeded permutation), so nothing links a completion to its own reward; a stage that learns
            from its rewards must not improve with it. Logged rewards are the true ones.
        val_generations: completions sampled per held-out page in validation (`val/reward`: their mean reward).
        table_every_n_steps: every this many optimizer steps, log the first batch's completions with their verdicts
            (W&B table `train/completions`, else completions.jsonl in the run folder); 0: never.
        generation: decoding settings written into the exported model's inference settings.
    """

    def __init__(
        self,
        pretrained: str,
        dtype: DTypeName = "bfloat16",
        attn_implementation: AttnImplementation = "auto",
        train_vision_tower: bool = False,
        train_merger: bool = True,
        train_decoder: bool = True,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: str = "linear",
        warmup_steps: int = 0,
        scheduler_kwargs: dict[str, Any] | None = None,
        rollout: RolloutSpec | None = None,
        loss: PolicyLossSpec | None = None,
        rewards: RewardWeights | None = None,
        scale_rewards: ScaleRewards = "group",
        mask_truncated_completions: bool = False,
        skip_zero_variance_groups: bool = False,
        math_tests: Literal["katex", "skip"] = "katex",
        chromium: str = "chromium",
        reward_workers: int = 4,
        reward_pool: Literal["thread", "process"] = "thread",
        sampling_seed: int = 0,
        logprob_rows_per_forward: int | None = None,
        loss_chunk_size: int = 2048,
        gradient_checkpointing: bool = False,
        lora: LoraSpec | None = None,
        shuffle_rewards: bool = False,
        val_generations: int = 4,
        table_every_n_steps: int = 10,
        generation: GenerationSpec | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer_factory = optimizer
        self.rollout_spec = rollout or RolloutSpec()
        self.loss_spec = loss or PolicyLossSpec()
        if self.loss_spec.loss_type == "dr_grpo" and self.loss_spec.max_completion_length is None:
            self.loss_spec = dataclasses.replace(self.loss_spec, max_completion_length=self.rollout_spec.max_new_tokens)
        self.reward_weights = rewards or RewardWeights()
        self.generation = generation or GenerationSpec()
        self.model: Any = None
        self.tokenizer: Any = None
        self.reference: FrozenReference | None = None
        self.pool: RewardPool | None = None
        self.scorer: RewardScorer | None = None
        self.pages_seen = 0
        self.dropped = 0
        self.window = StepWindow()
        self._window_tokens = 0.0  # dapo: completion tokens of this rank since the last optimizer step

    def setup(self, stage: str) -> None:
        if self.tokenizer is None:
            self.tokenizer = load_processor(self.hparams.pretrained).tokenizer

    def configure_model(self) -> None:
        if self.model is not None:
            return
        hp = self.hparams
        self.model = load_model(hp.pretrained, hp.dtype, hp.attn_implementation)
        set_trainable(self.model, hp.train_vision_tower, hp.train_merger, hp.train_decoder)
        if hp.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if self.loss_spec.beta != 0.0 and hp.lora is None:
            self.reference = FrozenReference(self.model)  # the start model, before any update
        if hp.lora is not None:
            self.model = apply_lora(self.model, hp.lora)

    def _scoring(self) -> RewardPool:
        if self.pool is None:
            hp = self.hparams
            end = self.tokenizer.convert_tokens_to_ids(family_of_model(self.model).end_of_turn)
            self.scorer = RewardScorer(self.reward_weights, end, hp.math_tests, hp.chromium)
            self.pool = RewardPool(self.scorer, hp.reward_workers, hp.reward_pool)
        return self.pool

    def _seed(self, batch: dict[str, Any], stage: str) -> int:
        step = self.global_step if stage == "train" else 0  # every validation samples the same way
        return sampling_seed(self.hparams.sampling_seed, step, [page.key for page in batch["pages"]], stage)

    def _sample(self, batch: dict[str, Any], generations: int, seed: int) -> Rollout:
        spec = dataclasses.replace(self.rollout_spec, num_generations=generations)
        prompts = [RolloutPrompt(inputs, image) for inputs, image in zip(batch["inputs"], batch["images"], strict=True)]
        return HFRollout(self.model, self.tokenizer, spec).sample(prompts, seed)

    def _score(self, batch: dict[str, Any], rollout: Rollout) -> list[Any]:
        """Submit every page's group to the reward pool at once; the futures are collected by the caller."""
        pool, completions, group = self._scoring(), rollout.completions(), rollout.group_size
        self.scorer.check_pages(batch["pages"])
        return [pool.submit(page, completions[i * group : (i + 1) * group]) for i, page in enumerate(batch["pages"])]

    def on_fit_start(self) -> None:
        self.train()  # from_pretrained leaves eval mode, which Lightning keeps for fit
        init_sharded_root(self.model)
        if self.reference is not None:
            self.reference.follow(self.model)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.dropped += len(batch["dropped"])
        if not batch["pages"]:
            return self._empty_step_loss()
        hp, spec = self.hparams, self.loss_spec
        rollout_seed = self._seed(batch, "train")
        rollout = self._sample(batch, self.rollout_spec.num_generations, rollout_seed)
        futures = self._score(batch, rollout)  # scored while the reference and policy passes run
        temperature, chunk = self.rollout_spec.temperature, hp.loss_chunk_size
        ref, rows = None, hp.logprob_rows_per_forward
        if spec.beta != 0.0:
            ref = reference_logprobs(self.model, self.reference, rollout, temperature, chunk, rows)
        logps = group_logprobs(self.model, rollout, temperature, chunk, None)
        rewards = [reward for future in futures for reward in future.result()]
        totals = torch.tensor([r.total for r in rewards], dtype=torch.float32)
        if hp.shuffle_rewards:
            totals = totals[torch.randperm(len(totals), generator=torch.Generator().manual_seed(rollout_seed))]
        advantages = self._advantages(totals, rollout)
        mask = rollout.completion_mask.float()
        if hp.mask_truncated_completions:
            mask = mask_truncated(mask, rollout.truncated)
        if hp.skip_zero_variance_groups:
            mask = mask * advantages.learning_rows().to(mask.device).unsqueeze(1)
        num_items = 1.0 if spec.loss_type == "dapo" else None  # a token sum: on_before_optimizer_step divides
        out = policy_loss(logps, advantages.advantages.to(logps.device), mask, spec, ref_logps=ref, num_items=num_items)
        self._window_tokens += float(mask.sum())
        self.pages_seen += len(batch["pages"]) * self.trainer.world_size
        metrics = {**step_metrics(rollout, rewards, advantages, out), "train/loss": float(out.loss.detach())}
        metrics["train/rollout_tokens_per_s"] *= self.trainer.world_size  # all ranks, as Telemetry's rates
        self.window.add(metrics, len(rewards))
        self._maybe_table(batch, rollout, rewards, batch_idx)
        return out.loss

    def _advantages(self, rewards: torch.Tensor, rollout: Rollout) -> Any:
        scale: ScaleRewards = self.hparams.scale_rewards
        if scale != "batch" or self.trainer.world_size == 1:
            return group_advantages(rewards, rollout.group_size, scale)
        gathered = self.all_gather(rewards.to(self.device)).reshape(-1).cpu()  # TRL gathers the batch's rewards
        every = group_advantages(gathered, rollout.group_size, scale)
        rows, groups = slice(self.global_rank * len(rewards), (self.global_rank + 1) * len(rewards)), len(rewards)
        first = self.global_rank * groups // rollout.group_size
        last = first + groups // rollout.group_size
        return dataclasses.replace(
            every,
            advantages=every.advantages[rows],
            zero_variance=every.zero_variance[first:last],
            group_mean=every.group_mean[first:last],
            group_std=every.group_std[first:last],
        )

    def _maybe_table(self, batch: dict[str, Any], rollout: Rollout, rewards: list[Any], batch_idx: int) -> None:
        every = self.hparams.table_every_n_steps
        first_of_step = batch_idx % self.trainer.accumulate_grad_batches == 0
        if not every or self.global_step % every or not first_of_step or self.global_rank != 0:
            return
        rows = table_rows(self.global_step, batch["pages"], rollout.texts, rewards)
        write_completions(self.logger, self.trainer.log_dir, rows)

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        """Log the step's metrics (means over its batches and ranks, maxima of `*/max`). dapo: the token sum of
        every batch becomes the mean over the step's completion tokens on all ranks
        (TRL's num_items_in_batch); Lightning divided each batch by the accumulation steps k and DDP averaged the
        W ranks, so the gradients are scaled by k W / tokens. Runs before clipping."""
        means, maxima = self.window.pop()  # every batch of the step, weighted by its completions
        self.log_dict({**means, **maxima, "train/pages_seen": float(self.pages_seen)}, on_step=True)
        tokens, self._window_tokens = self._window_tokens, 0.0
        if self.loss_spec.loss_type != "dapo":
            return
        total = float(self.trainer.strategy.reduce(torch.tensor(tokens, device=self.device), reduce_op="sum"))
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if total > 0 and grads:
            torch._foreach_mul_(grads, self.trainer.accumulate_grad_batches * self.trainer.world_size / total)

    def _empty_step_loss(self) -> torch.Tensor | None:
        """Every page of the batch was dropped: skip alone; with several processes every rank must run the same
        collectives, so a zero loss that touches every trainable weight."""
        if self.trainer.world_size == 1:
            return None
        return sum(p.sum() for p in self.parameters() if p.requires_grad) * 0.0

    def on_validation_start(self) -> None:
        init_sharded_root(self.model)  # `validate` starts here (fit started in on_fit_start)

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        if not batch["pages"]:
            return
        rollout = self._sample(batch, self.hparams.val_generations, self._seed(batch, "val"))
        rewards = [reward for future in self._score(batch, rollout) for reward in future.result()]
        metrics = {**reward_metrics("val", rewards), **length_metrics("val", rollout)}
        metrics.pop("val/rollout_tokens_per_s")
        self.log_dict(metrics, on_epoch=True, sync_dist=True, batch_size=len(rewards), add_dataloader_idx=False)

    def teardown(self, stage: str) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["vlm_ocr_counters"] = {"pages_seen": self.pages_seen}
        if self.hparams.lora is not None:  # the frozen base is the pretrained model: keep only what trains
            checkpoint["state_dict"] = trainable_state_dict(checkpoint["state_dict"], self)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_same_shapes(checkpoint.get("state_dict", {}), self.state_dict(), self.hparams.pretrained)
        self.pages_seen = checkpoint.get("vlm_ocr_counters", {}).get("pages_seen", 0)
        if self.hparams.lora is not None:
            checkpoint["state_dict"] = complete_state_dict(checkpoint["state_dict"], self)

    def configure_optimizers(self) -> dict[str, Any]:
        try:
            optimizer = self.optimizer_factory(decay_parameter_groups(self.model))
        except ValueError as err:
            raise UsageError(f"--model.optimizer: {err}; fix its init_args") from None
        total = int(self.trainer.estimated_stepping_batches)
        hp = self.hparams
        return step_scheduler(optimizer, hp.lr_scheduler, total, min(hp.warmup_steps, total), hp.scheduler_kwargs)
