"""Creating keys through the admin API in tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQL

CREATE_KEY = """
mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) {
  secret apiKey { id name prefix maskedKey status scopes createdAt expiresAt lastUsedAt environment
                  rateLimits { limit windowSeconds algorithm burst } quota { limit period } plan { name } } } }
"""


async def create_key(gql: GraphQL, tenant_id: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """A new key of `tenant_id`; returns (secret, apiKey)."""
    data = await gql.data(CREATE_KEY, {"i": {"tenantId": tenant_id, "name": "test key", **fields}})
    payload = data["createApiKey"]
    return payload["secret"], payload["apiKey"]
