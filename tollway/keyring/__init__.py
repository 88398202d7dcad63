"""Envelope encryption of the secrets Tollway must read back (integration credentials, webhook
signing secrets): a data key per owner under AES-256-GCM, wrapped by a versioned key-encryption
key derived from the settings, re-wrapped online when the key-encryption key rotates."""
