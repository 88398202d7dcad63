"""`/integrations/oauth/callback`: where a provider sends the user back after consent. The
code is exchanged for tokens; the user lands on the `returnUrl` given when the flow started
(with `integration`, `result` and, on failure, `error` added to its query) or on a short page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tollway.integrations.authorization import AuthorizationOutcome
from tollway.services import Services

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
</head><body><h1>{title}</h1><p>{detail}</p></body></html>"""


def _landing(outcome: AuthorizationOutcome) -> Response:
    integration_id = str(outcome.integration.id) if outcome.integration else ""
    if outcome.return_url is not None:
        query = {"integration": integration_id, "result": "error" if outcome.error else "connected"}
        if outcome.error:
            query["error"] = outcome.error
        parts = urlsplit(outcome.return_url)
        joined = "&".join(p for p in (parts.query, urlencode(query)) if p)
        return RedirectResponse(urlunsplit(parts._replace(query=joined)), status_code=303)
    if outcome.error:
        page = PAGE.format(title="Authorization failed", detail=escape(outcome.error))
        return HTMLResponse(page, status_code=400)
    name = escape(outcome.integration.name) if outcome.integration else ""
    detail = f"Tollway is connected to {name}. You can close this window."
    return HTMLResponse(PAGE.format(title="Connected", detail=detail))


def oauth_callback(services: Services) -> Callable[[Request], Awaitable[Response]]:
    """The route's endpoint."""

    async def callback(request: Request) -> Response:
        params = request.query_params
        outcome = await services.integration_authorizations.complete(
            state=params.get("state"), code=params.get("code"), error=params.get("error")
        )
        return _landing(outcome)

    return callback
