"""Run the full validation loop once before the first training step, as the original recipe does."""

from __future__ import annotations

import lightning as L


class ValidateBeforeFit(L.Callback):
    """Evaluate every eval dataset at step 0 so the curve has a baseline (skipped when resuming)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step > 0 or not trainer.val_dataloaders and trainer.limit_val_batches == 0:
            return
        loop = trainer.fit_loop.epoch_loop
        # The same sequence Lightning's epoch loop uses for a mid-epoch validation.
        trainer.validating = True
        first_loop_iter = trainer._logger_connector._first_loop_iter
        loop.val_loop.run()
        trainer.training = True
        trainer._logger_connector._first_loop_iter = first_loop_iter
