"""`verifyApiKey`: the middleware's decision for callers that cannot run the middleware."""

from __future__ import annotations

import time

from tollway.auth.principal import Principal
from tollway.enforcement.problems import DenialCode
from tollway.enforcement.runtime import EnforcementRuntime
from tollway.enforcement.verifier import KNOWN_PREFIXES, Verdict
from tollway.keys.secrets import MAX_SECRET_LENGTH


class VerificationService:
    """Verifies on behalf of a principal; keys of other tenants read as invalid."""

    def __init__(self, runtime: EnforcementRuntime) -> None:
        self.runtime = runtime

    async def verify(
        self,
        principal: Principal,
        secret: str,
        *,
        method: str,
        path: str,
        client_ip: str | None,
        origin: str | None,
        cost: int | None,
    ) -> Verdict:
        """Same checks, same counters, same activity records as the middleware."""
        runtime = self.runtime
        if not runtime.started:
            await runtime.start()
        if not principal.is_super_admin and self._plausible(secret):
            try:
                record = await runtime.cache.for_secret(secret)
            except Exception:
                record = None
            if record is not None and record.tenant_id != str(principal.tenant_id):
                return Verdict(DenialCode.API_KEY_INVALID, "the API key is not valid")
        verdict = await runtime.verifier.verify(
            secret, method=method, path=path, client_ip=client_ip, origin=origin, cost=cost
        )
        record = verdict.record
        if verdict.code is None and record is not None:
            runtime.activity.used(record.key_id, time.time())
        elif verdict.code is not None:
            runtime.activity.denied(
                verdict.code.value,
                method=method,
                path=path,
                client_ip=client_ip,
                user_agent="verifyApiKey",
                key=record,
                presented=secret,
            )
        return verdict

    @staticmethod
    def _plausible(secret: str) -> bool:
        return len(secret) <= MAX_SECRET_LENGTH and secret.startswith(KNOWN_PREFIXES)
