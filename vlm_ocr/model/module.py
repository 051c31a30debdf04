"""VlmOcrModule: the training system around a vision-language model (loss, optimisation, logging, predict)."""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from vlm_ocr.data.batch import PageBatch
from vlm_ocr.data.processor import load_processor
from vlm_ocr.errors import UsageError
from vlm_ocr.model.batch_tokens import page_lengths
from vlm_ocr.model.compilation import RecompileWatch, compile_decoder_layers
from vlm_ocr.model.generate import GenerationSpec, model_inputs
from vlm_ocr.model.loading import AttnImplementation, DTypeName, load_model
from vlm_ocr.model.loss import answer_token_loss_terms
from vlm_ocr.model.packing import packed_position_ids
from vlm_ocr.model.page_losses import LossTerms, dataset_losses, loss_units
from vlm_ocr.model.parameters import check_same_shapes, decay_parameter_groups, set_trainable
from vlm_ocr.model.peft import LoraSpec, apply_lora, complete_state_dict, trainable_state_dict
from vlm_ocr.model.predict import RotatedPrompt, predict_rows
from vlm_ocr.model.schedule import step_scheduler


class VlmOcrModule(L.LightningModule):
    """Fine-tunes a vision-language model (any of `vlm_ocr.model.families`) on page images: teacher-forced
    cross-entropy on the answer tokens.

    Self-contained: it loads its model and tokenizer from `pretrained` and runs in a plain Trainer on any dataloaders
    of vlm_ocr's collated batches; what only the data side knows (eval set names, how a page becomes a prompt) comes
    in through `eval_names` and `rotated_prompt`, which the experiments' CLI links from the data module.

    Args:
        pretrained: hub id or local folder of the model (and its processor).
        dtype: weight dtype the model loads in.
        attn_implementation: `auto` (flash_attention_2 when installed, else sdpa), or a fixed one.
        train_vision_tower: train the ViT blocks (frozen in the seed design).
        train_merger: train the patch merger(s) that map vision features into the decoder (DeepStack's too).
        train_decoder: train the language model and lm_head.
        optimizer: optimizer factory; it receives parameter groups (no decay on biases and norms).
        lr_scheduler: name for `transformers.get_scheduler` (linear, cosine, constant_with_warmup, ...).
        warmup_ratio: warmup steps as a share of the real number of optimizer steps.
        scheduler_kwargs: extra `scheduler_specific_kwargs` for get_scheduler.
        loss_weighting: `page` (each page's mean token loss, then the mean over pages, as olmOCR's one page per
            step) or `token` (mean over answer tokens). Either way the mean is taken over the whole optimizer step:
            every page (or token) of every batch of the accumulation window on every rank counts the same, however
            the pages were packed (see on_before_optimizer_step).
        loss_chunk_size: answer tokens per lm_head chunk in the loss.
        gradient_checkpointing: recompute decoder activations in backward to save memory.
        compile: torch.compile the decoder layer by layer (inductor, default mode, not fullgraph; see
            vlm_ocr.model.compilation).
        compile_dynamic: None: torch makes the length dynamic after the first change, so pages of every length
            share a few graphs; False: one graph per sequence length, as the original recipe (past torch's
            recompile limit of 8 the layers run eagerly: warned at the first such step).
        compile_backend: torch.compile's backend for `compile` (inductor).
        liger_kernels: patch the decoder with the family's Liger Triton kernels (RMSNorm, SwiGLU, rope) before
            loading; needs `pip install liger-kernel` and a GPU.
        generation: decoding settings for predict.
        predict_rotation_retry: in predict, turn a page the model reports as rotated and predict it again.
        lora: train LoRA adapters (peft) instead of the weights themselves: everything else freezes (the
            train_* switches no longer apply) and checkpoints hold only the adapter and other trainable weights.
        eval_names: names of the validation/test dataloaders, in order, for the logged `val/<name>/loss`;
            dataloaders without a name log as `dataloader_<i>`. Linked from the data module, not a hyperparameter.
        rotated_prompt: (source PDF, 1-based page, rotation_correction) -> prompt tensors of that page turned by
            it, for predict's rotation retry (None: no retry). Linked from the data module, not a hyperparameter.
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
        warmup_ratio: float = 0.0,
        scheduler_kwargs: dict[str, Any] | None = None,
        loss_weighting: Literal["page", "token"] = "page",
        loss_chunk_size: int = 2048,
        gradient_checkpointing: bool = False,
        compile: bool = False,
        compile_dynamic: bool | None = None,
        compile_backend: str = "inductor",
        liger_kernels: bool = False,
        generation: GenerationSpec | None = None,
        predict_rotation_retry: bool = True,
        lora: LoraSpec | None = None,
        eval_names: list[str] | None = None,
        rotated_prompt: RotatedPrompt | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "eval_names", "rotated_prompt"])
        self.optimizer_factory = optimizer
        self.generation = generation or GenerationSpec()
        self.eval_names = list(eval_names or [])
        self.rotated_prompt = rotated_prompt
        self.model: Any = None
        self.tokenizer: Any = None  # loaded for predict, from `pretrained` like the model
        self.samples_seen = 0
        self.tokens_seen = 0
        self.dropped: dict[str, int] = {}
        self._dropped_reported: dict[str, int] = {}
        self._last_batch: PageBatch | None = None  # stands in for an all-dropped batch under DDP/FSDP
        self._window_units = 0  # loss units (pages or tokens) this rank saw since the last optimizer step
        self._recompile_watch: RecompileWatch | None = None

    def setup(self, stage: str) -> None:
        if stage == "predict" and self.tokenizer is None:
            self.tokenizer = load_processor(self.hparams.pretrained).tokenizer
        if stage == "predict" and self.hparams.predict_rotation_retry and self.rotated_prompt is None:
            rank_zero_warn(
                "predict_rotation_retry is on but no rotated_prompt was given: rotated pages are not retried"
            )

    def configure_model(self) -> None:
        if self.model is not None:
            return
        hp = self.hparams
        self.model = load_model(hp.pretrained, hp.dtype, hp.attn_implementation, hp.liger_kernels)
        set_trainable(self.model, hp.train_vision_tower, hp.train_merger, hp.train_decoder)
        if hp.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hp.compile:
            compile_decoder_layers(self.model, dynamic=hp.compile_dynamic, backend=hp.compile_backend)
            self._recompile_watch = RecompileWatch()
        if hp.lora is not None:
            self.model = apply_lora(self.model, hp.lora)

    def forward(self, batch: PageBatch) -> torch.Tensor:
        """Logits for every position of a collated batch (inference)."""
        return self.model(**model_inputs(batch)).logits

    def compute_loss(self, batch: PageBatch) -> LossTerms:
        """The training loss of a collated batch (padded or packed rows, with gradients): the loss, the answer tokens
        it covers, and each page's mean token loss. Training, validation and test take their loss from here."""
        inputs = {**model_inputs(batch), "use_cache": False}  # no KV cache in training (and packing needs none)
        if "page_lengths" in batch:  # packed rows: per-page positions, attention kept inside each page
            inputs["position_ids"] = packed_position_ids(self.model.model, batch)
        hidden = self.model.model(**inputs).last_hidden_state
        return LossTerms(
            *answer_token_loss_terms(
                hidden,
                self.model.lm_head,
                batch["labels"],
                self.hparams.loss_weighting,
                self.hparams.loss_chunk_size,
                page_index=batch.get("page_index"),
            )
        )

    def _count_dropped(self, batch: PageBatch) -> None:
        for record in batch["dropped"]:
            self.dropped[record["step"]] = self.dropped.get(record["step"], 0) + 1
        if batch["truncated"]:
            self.dropped["truncated (kept)"] = self.dropped.get("truncated (kept)", 0) + batch["truncated"]

    def training_step(self, batch: PageBatch, batch_idx: int) -> torch.Tensor | None:
        self._count_dropped(batch)
        self.log("train/dropped_samples", float(sum(self.dropped.values())), on_step=True, reduce_fx="sum")
        if batch["num_pages"] == 0:  # every sample of this batch was dropped by a pipeline step
            return self._empty_step_loss()
        self._last_batch = batch
        loss, answer_tokens, page_losses = self.compute_loss(batch)
        units = loss_units(self.hparams.loss_weighting, answer_tokens, page_losses)
        world = self.trainer.world_size  # throughput is vlm_ocr.callbacks.Telemetry's; these are run counters
        self.samples_seen += batch["num_pages"] * world
        self.tokens_seen += sum(page_lengths(batch)) * world
        self.log("train/loss", loss, on_step=True, prog_bar=True, batch_size=batch["num_pages"])
        for name, value in dataset_losses(batch.get("datasets") or [], page_losses).items():
            self.log(f"train/loss_by_dataset/{name}", value, on_step=True)  # cannot collide with train/* names
        self.log_dict(
            {
                "train/samples_seen": float(self.samples_seen),
                "train/tokens_seen": float(self.tokens_seen),
                "train/answer_tokens": float(answer_tokens),
            },
            on_step=True,
        )
        if not self._normalizes_per_step:
            return loss
        self._window_units += units
        return loss * units  # a sum over pages (or tokens); on_before_optimizer_step divides by the step's total

    @property
    def _normalizes_per_step(self) -> bool:
        """DeepSpeed keeps gradients inside its engine, out of reach of on_before_optimizer_step: there each batch
        is averaged on its own and the batches of a step count equally."""
        from lightning.pytorch.strategies import DeepSpeedStrategy

        return not isinstance(self.trainer.strategy, DeepSpeedStrategy)

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        """Turn the accumulated sums into the mean over every page (or answer token) of the optimizer step.

        Each batch returned `mean x units`; Lightning divided it by `accumulate_grad_batches` (k) and DDP/FSDP
        average gradients over the world (W), so the gradients hold `sum / (k W)`. Multiplying by
        `k W / total units of the step on all ranks` gives the exact mean, whatever the packing, the number of
        pages per batch or the pages dropped: one page per step with accumulation 32 (olmOCR) and 32 pages in
        packs of any size train on the same objective. Runs before gradient clipping.
        """
        if not self._normalizes_per_step:
            return
        local = torch.tensor(float(self._window_units), device=self.device)
        self._window_units = 0
        total = float(self.trainer.strategy.reduce(local, reduce_op="sum"))
        if total > 0:
            grads = [p.grad for p in self.parameters() if p.grad is not None]
            if grads:
                torch._foreach_mul_(grads, self.trainer.accumulate_grad_batches * self.trainer.world_size / total)
                norm = torch.nn.utils.get_total_norm(grads)  # before clipping, which comes after this hook
                self.log("train/grad_norm", norm.full_tensor() if hasattr(norm, "full_tensor") else norm, on_step=True)

    def _empty_step_loss(self) -> torch.Tensor | None:
        """Nothing to learn from: skip alone; with several processes every rank must run the same collectives
        (DDP's gradient all-reduce, FSDP's gathers), so redo the last real batch with weight 0."""
        if self.trainer.world_size == 1:
            return None
        if self._last_batch is None:
            return sum(p.sum() for p in self.parameters() if p.requires_grad) * 0.0
        return self.compute_loss(self._last_batch).loss * 0.0

    def on_fit_start(self) -> None:
        # from_pretrained leaves eval mode, which Lightning 2.x keeps for fit: dropout and checkpointing would be off
        self.train()  # (validation switches to eval and back; the frozen vision tower has no dropout)
        if not self._normalizes_per_step:
            rank_zero_warn(
                "DeepSpeed keeps the gradients inside its engine: the loss is averaged per batch, and the batches "
                "of an optimizer step count equally (not every page or token of the step, as on other strategies)"
            )

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._recompile_watch is not None and (news := self._recompile_watch.news()):
            rank_zero_warn(f"step {self.trainer.global_step}: {news}")

    def on_train_epoch_end(self) -> None:
        if self.dropped and self.dropped != self._dropped_reported:  # once per change: an epoch can be one step
            rank_zero_info(f"samples skipped so far, by step: {self.dropped}")
            self._dropped_reported = dict(self.dropped)

    def _eval_step(self, stage: str, batch: PageBatch, dataloader_idx: int) -> None:
        names = self.eval_names
        name = names[dataloader_idx] if dataloader_idx < len(names) else f"dataloader_{dataloader_idx}"
        self._count_dropped(batch)
        if batch["num_pages"] == 0:
            return
        loss, answer_tokens, page_losses = self.compute_loss(batch)
        units = loss_units(self.hparams.loss_weighting, answer_tokens, page_losses)
        if units == 0:
            return
        self.log(  # weighted by units: the epoch value is the mean over all pages (or tokens) of the set
            f"{stage}/{name}/loss",
            loss,
            on_epoch=True,
            sync_dist=True,
            add_dataloader_idx=False,
            batch_size=units,
        )

    def validation_step(self, batch: PageBatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("val", batch, dataloader_idx)

    def test_step(self, batch: PageBatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("test", batch, dataloader_idx)

    def predict_step(self, batch: PageBatch, batch_idx: int, dataloader_idx: int = 0) -> list[dict[str, Any]]:
        retry = self.rotated_prompt if self.hparams.predict_rotation_retry else None
        return predict_rows(self.model, self.tokenizer, batch, self.generation, retry)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["vlm_ocr_counters"] = {"samples_seen": self.samples_seen, "tokens_seen": self.tokens_seen}
        if self.hparams.lora is not None:  # the frozen base is the pretrained model: keep only what trains
            checkpoint["state_dict"] = trainable_state_dict(checkpoint["state_dict"], self)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_same_shapes(checkpoint.get("state_dict", {}), self.state_dict(), self.hparams.pretrained)
        counters = checkpoint.get("vlm_ocr_counters", {})
        self.samples_seen = counters.get("samples_seen", 0)
        self.tokens_seen = counters.get("tokens_seen", 0)
        if self.hparams.lora is not None:
            checkpoint["state_dict"] = complete_state_dict(checkpoint["state_dict"], self)

    def configure_optimizers(self) -> dict[str, Any]:
        try:
            optimizer = self.optimizer_factory(decay_parameter_groups(self.model))
        except ValueError as err:  # torch's optimizers check their settings (lr, betas, eps, ...) here
            raise UsageError(f"--model.optimizer: {err}; fix its init_args") from None
        total = int(self.trainer.estimated_stepping_batches)
        warmup = int(total * self.hparams.warmup_ratio)  # rounded down, as olmOCR's train.py
        return step_scheduler(optimizer, self.hparams.lr_scheduler, total, warmup, self.hparams.scheduler_kwargs)
