"""Every call ends by its deadline: a hung API server cannot hold a scale (or the first
observation) longer than `deadline_s`, and a cancelled call leaves nothing running."""

from __future__ import annotations

import asyncio

import pytest

from controller.actuators.kubernetes import PoolUnavailable
from controller.core.model import NotSent, SourceError
from tests.support import eventually
from tests.support.kmock import (
    DEPLOYMENTS,
    SCALED_OBJECTS,
    Emulator,
    MakeScaler,
    Naps,
    deployment,
    hang,
)

SCALE_PATH = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/agents/deployments"
BOUND_S = 5.0
"""Only so that a test that fails ends: every call here must end long before."""


@pytest.fixture
def web(cluster: Emulator) -> Emulator:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    return cluster


def scale_patches(cluster: Emulator) -> int:
    return len([r for r in cluster["patch"] if r.url.path == SCALE_PATH])


async def test_a_scale_the_server_never_answers_fails_by_the_deadline(
    web: Emulator, make_scaler: MakeScaler, naps: Naps
) -> None:
    scaler = make_scaler(request_timeout_s=60.0, deadline_s=0.3)
    await scaler.observe()
    web.faults.append(hang("PATCH", SCALE_PATH))

    # The deadline counts from the scale's start: on a busy machine the patch leaves a few
    # milliseconds later, with that much less of it ("0.29 s").
    with pytest.raises(PoolUnavailable, match=r"no answer within the 0\.[23]\d* s deadline"):
        await asyncio.wait_for(scaler.scale("web", 5), BOUND_S)

    assert scale_patches(web) == 1  # one try: no time was left for another
    assert naps.delays == []
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 2
    assert "web" in await scaler.observe()  # still observed: the next tick tries again


async def test_a_cancelled_scale_sends_nothing_more_and_the_next_one_goes_through(
    web: Emulator, make_scaler: MakeScaler, naps: Naps
) -> None:
    scaler = make_scaler(request_timeout_s=60.0, deadline_s=60.0)
    await scaler.observe()
    stalled = hang("PATCH", SCALE_PATH)
    web.faults.append(stalled)

    # Cancelled once its PATCH is in flight, as when the lead's per-pool task is cancelled.
    call = asyncio.ensure_future(scaler.scale("web", 5))
    await eventually(lambda: scale_patches(web) == 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    # No retry, annotation or Event follows the cancelled request.
    assert (scale_patches(web), len(web["patch"]), len(web["post"])) == (1, 1, 0)
    assert naps.delays == []
    web.faults.remove(stalled)
    await asyncio.wait_for(scaler.scale("web", 3), BOUND_S)
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 3
    assert scale_patches(web) == 2


async def test_a_call_still_waiting_for_the_rate_limiter_at_its_deadline_sends_nothing(
    web: Emulator, make_scaler: MakeScaler
) -> None:
    web.resources[SCALED_OBJECTS] = {}  # KEDA installed: 4 kinds, each listed then watched
    # 8 at once, then one every 100 s; a deadline long enough for the first lists on a busy
    # machine (0.2 s was not, now and then), and far short of the next token.
    scaler = make_scaler(qps=0.01, burst=8, deadline_s=2.0)
    await scaler.observe()
    await eventually(lambda: len(web[web.action.WATCH]) == 4)  # the burst is spent

    waiting = [scaler.scale("web", n) for n in (3, 4, 5)]
    failures = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), BOUND_S)

    assert [type(f) for f in failures] == [NotSent] * 3  # no failure of the API's
    assert all("not sent" in str(f) and "deadline" in str(f) for f in failures)
    assert len(web["patch"]) == 0


async def test_the_first_observation_waits_for_a_hung_api_no_longer_than_the_deadline(
    web: Emulator, make_scaler: MakeScaler
) -> None:
    web.faults.append(hang("GET", DEPLOYMENTS_PATH))
    scaler = make_scaler(sync_timeout_s=60.0, deadline_s=0.3)

    # Whichever ends first, the wait or the list's own call, says so.
    with pytest.raises(SourceError, match=r"cannot read the cluster: .*no answer"):
        await asyncio.wait_for(scaler.observe(), BOUND_S)
    assert "no answer" in scaler.problems["web"]
