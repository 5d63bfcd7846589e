"""Prometheus over TLS, with certificates checked by default, and a bearer token.

TLS: a real Prometheus (Debian's package) serving HTTPS with a certificate from a CA this test
makes. Prometheus itself cannot check bearer tokens, so the token is checked by a small HTTP
server that answers the query API's wire format only to the right `Authorization` header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controller.core.connections import PrometheusConfig
from controller.sources.prometheus import PrometheusUsageSource
from tests.support import eventually, free_port
from tests.support.certificates import make_certificates
from tests.support.factories import config, pool
from tests.support.prometheus import TENANTS, Prometheus

pytestmark = pytest.mark.e2e

CFG = config({"research": pool("acme"), "coder": pool("globex")}, TENANTS)
QUERY = 'label_replace(vector(4200), "tenant", "acme", "", "")'


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Prometheus, dict[str, Path]]]:
    certificates = make_certificates(tmp_path)
    server = Prometheus(tmp_path, [], tls=certificates)
    try:
        yield server, certificates
    finally:
        server.stop()


async def test_certificates_are_checked_unless_the_config_says_not_to(
    prometheus: tuple[Prometheus, dict[str, Path]],
) -> None:
    server, certificates = prometheus
    settings: dict[str, Any] = {"url": server.url, "tokens_query": QUERY}
    unknown_ca = PrometheusUsageSource(CFG, PrometheusConfig.model_validate(settings))
    await unknown_ca.refresh()
    usage = unknown_ca.usage(0)
    assert usage.tokens_today == {}  # never known: no budget is applied on an unverified answer
    assert usage.stale is not None
    assert "CERTIFICATE_VERIFY_FAILED" in usage.stale

    for tls in ({"ca_file": str(certificates["ca.pem"])}, {"insecure_skip_verify": True}):
        checked = PrometheusConfig.model_validate({**settings, "tls": tls})
        source = PrometheusUsageSource(CFG, checked)

        async def answered(source: PrometheusUsageSource = source) -> bool:
            await source.refresh()
            return source.usage(0).tokens_today == {"acme": 4200, "globex": 0}

        await eventually(answered, timeout=30, every=0.25)
        assert source.usage(0).stale is None


@pytest.fixture
async def token_checking_api() -> AsyncIterator[tuple[str, list[str]]]:
    """The query API's wire format, answered only to `Bearer <the token it holds>`."""
    token = ["first"]

    async def query(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token[0]}":
            return web.json_response({"status": "error", "error": "unauthorized"}, status=401)
        result = [{"metric": {"tenant": "acme"}, "value": [0, "4200"]}]
        return web.json_response({"status": "success",
                                  "data": {"resultType": "vector", "result": result}})  # fmt: skip

    app = web.Application()
    app.router.add_route("*", "/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        await runner.cleanup()


async def test_the_bearer_token_is_sent_and_read_again_when_it_rotates(
    token_checking_api: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, token = token_checking_api
    file = tmp_path / "token"
    file.write_text("first\n")
    source = PrometheusUsageSource(
        CFG, PrometheusConfig.model_validate({"url": url, "bearer_token_file": str(file)})
    )
    await source.refresh()
    assert source.usage(0).tokens_today == {"acme": 4200, "globex": 0}
    assert source.usage(0).stale is None

    token[0] = "second"  # rotated on the server: the old one is refused, the budgets held
    await source.refresh()
    assert source.usage(0).tokens_today == {"acme": 4200, "globex": 0}
    assert source.usage(0).stale is not None
    file.write_text("second\n")  # and in the mounted file: fresh again
    await source.refresh()
    assert source.usage(0).stale is None

    file.unlink()  # a token gone at run time is a stale source, never a crash
    await source.refresh()
    assert source.usage(0).stale is not None
    assert source.usage(0).tokens_today == {"acme": 4200, "globex": 0}
