"""Model loading, building and the LightningModule."""
