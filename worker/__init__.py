"""batchhook: signed webhooks when LLM batch jobs change status."""

__version__ = "0.1.0"
