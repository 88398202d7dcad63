"""API keys: generation, hashing, validation, service, and the records the hot path reads."""
