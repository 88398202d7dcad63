"""Integrations: the third-party services a tenant depends on (registry, provider catalogue,
credentials sealed on the keyring)."""
