"""The integration proxy's overhead: wrk on loopback against a local provider (bare Starlette
under one uvicorn worker) called directly, and the same provider called through
`/integrations/{id}/proxy/` of `tollway serve` (embedded: SQLite, memory limiter, usage
captured; one worker). Both run in the same invocation, interleaved over rounds (best kept),
because the machine is shared and noisy; the added p50/p99 is what to read.

    .venv/bin/python bench/proxy.py [--seconds 5] [--rounds 3] [--connections 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.enforcement import Result, Served, wrk  # noqa: E402
from tests.processes import run_tollway, serving  # noqa: E402

BOOT = "bench-bootstrap-token"


def gql(base: str, query: str, variables: dict[str, object]) -> dict[str, object]:
    """One admin operation with the bootstrap token; its `data`."""
    answer = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {BOOT}"},
        timeout=30,
    ).json()
    assert not answer.get("errors"), answer
    data: dict[str, object] = answer["data"]
    return data


def seed(base: str, provider_url: str) -> tuple[str, str]:
    """A tenant, a scoped key without practical limits and an integration; (secret, id)."""
    tenant = gql(
        base,
        "mutation($n: String!) { createTenant(input: {name: $n}) { tenant { id } } }",
        {"n": f"bench-{uuid.uuid4().hex[:8]}"},
    )["createTenant"]["tenant"]["id"]  # type: ignore[index]
    key = gql(
        base,
        """mutation($t: ID!) { createApiKey(input: {tenantId: $t, name: "proxy",
        scopes: ["integrations:proxy"], rateLimits: [{limit: 1000000000, windowSeconds: 60}],
        quota: {limit: 2000000000, period: MONTH}})
        { secret } }""",
        {"t": tenant},
    )["createApiKey"]["secret"]  # type: ignore[index]
    made = gql(
        base,
        """mutation($t: ID!, $u: String!) { createIntegration(input: {tenantId: $t,
        name: "provider", provider: "custom", baseUrl: $u,
        credentials: {type: BEARER, values: {token: "provider-token-0123456789"}}}) { id } }""",
        {"t": tenant, "u": provider_url},
    )["createIntegration"]["id"]  # type: ignore[index]
    return str(key), str(made)  # fmt: skip


def describe(result: Result) -> str:
    return f"{result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"


def row(name: str, result: Result, direct: Result) -> str:
    return (
        f"| {name} | {result.rps:,.0f} | {result.rps / direct.rps:.2f} | {result.p50_ms:.2f} | "
        f"{result.p99_ms:.2f} | {result.p50_ms - direct.p50_ms:+.2f} | "
        f"{result.p99_ms - direct.p99_ms:+.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="tollway-proxy-bench-"))
    provider = Served("bare", {})
    settings = {"admin_token": BOOT, "webhook_allow_private_networks": "true"}
    try:
        assert run_tollway("migrate", cwd=workdir).returncode == 0
        with serving(cwd=workdir, **settings) as base:
            secret, integration = seed(base, f"http://127.0.0.1:{provider.port}")
            port = int(base.rsplit(":", 1)[1])
            path = f"/integrations/{integration}/proxy/"
            best: dict[str, Result] = {}
            for round_ in range(1, args.rounds + 1):
                for name, target, route in (("direct", provider.port, "/"), ("proxy", port, path)):
                    result = wrk(target, secret, args.seconds, args.connections, route)
                    assert result.non_2xx == 0, f"{name}: {result.non_2xx} non-2xx answers"
                    print(f"round {round_} {name:7} {describe(result)}", flush=True)
                    if name not in best or result.rps > best[name].rps:
                        best[name] = result
    finally:
        provider.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    direct = best["direct"]
    print(f"\nbest of rounds, {args.connections} connections, one uvicorn worker each:")
    print("| call | req/s | vs direct | p50 ms | p99 ms | p50 added ms | p99 added ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(row("provider directly", direct, direct))
    print(row("through the proxy", best["proxy"], direct))


if __name__ == "__main__":
    main()
