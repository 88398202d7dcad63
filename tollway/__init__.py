"""Tollway: open-source API management (keys, limits, quotas, usage, costs, alerts, webhooks)."""

__version__ = "0.1.0"
