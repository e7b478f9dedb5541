"""Frozen CLIP, prompt learners and the LightningModule that joins them."""
