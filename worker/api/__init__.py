"""The HTTP API: registration, inspection, inbound provider webhooks and /metrics."""
