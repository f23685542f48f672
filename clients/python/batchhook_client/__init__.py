"""batchhook client."""
