"""`application/graphql-response+json`, as the GraphQL-over-HTTP spec has it: a client that
accepts it gets that media type back, and a request error (one that leaves no `data`: a
parse or validation failure, not a field error) becomes a 400 without a `data` entry.
Clients asking for plain `application/json` get today's answers unchanged."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Send

GRAPHQL_RESPONSE = "application/graphql-response+json"


def accepts_graphql_response(accept: str | None) -> bool:
    """True when the Accept header names the GraphQL response media type."""
    return accept is not None and GRAPHQL_RESPONSE in accept.lower()


def _is_request_error(body: Any) -> bool:
    if not isinstance(body, dict) or body.get("data") is not None or not body.get("errors"):
        return False
    return all(isinstance(e, dict) and "path" not in e for e in body["errors"])


def graphql_response_send(send: Send) -> Send:
    """`send`, answering in the GraphQL response media type (whole bodies only: Strawberry
    and Tollway send each response in one message)."""
    start: Message | None = None

    async def sending(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        held, start = start, None
        body = message.get("body", b"")
        try:
            decoded = json.loads(body)
        except ValueError:  # not a GraphQL answer (GraphiQL's page): as it was
            await send(held)
            await send(message)
            return
        status = held["status"]
        if status == 200 and _is_request_error(decoded):
            status = 400
            body = json.dumps({"errors": decoded["errors"]}, separators=(",", ":")).encode()
        headers = [
            (k, v) for k, v in held.get("headers", [])
            if k.lower() not in (b"content-type", b"content-length")
        ]  # fmt: skip
        headers += [
            (b"content-type", f"{GRAPHQL_RESPONSE}; charset=utf-8".encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({**held, "status": status, "headers": headers})
        await send({**message, "body": body})

    return sending
