"""Webhooks: endpoints, the event outbox, the dispatcher and its attempt log."""
