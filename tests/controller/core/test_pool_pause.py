"""Pausing one pool (KEDA's paused-replicas) and pausing the controller, as the policy decides
them and the override store keeps them: an injected clock, no sleeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.coordination.overrides import OverrideStore, load_overrides, read_overrides
from controller.core.config import ConfigError
from controller.core.history import History
from controller.core.model import Overrides, Pin, PoolPause
from controller.core.policy import decide
from tests.support import FakeClock
from tests.support.factories import config, observe, pool

SLOW_DOWN = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 1, "period_seconds": 60},
    "scale_down": {"stabilization_seconds": 300, "max_pods": 1, "period_seconds": 60},
}
CFG = config({"research": pool("acme", max_replicas=20, behavior=SLOW_DOWN),
              "coder": pool("globex")})  # fmt: skip
T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


def paused(replicas: int | None = None, until: float | None = None) -> Overrides:
    return Overrides(paused_pools={"research": PoolPause(replicas, until, "alice", T0)})


def test_a_paused_pool_holds_its_replicas_whatever_its_queue_says() -> None:
    busy = observe(research=(40, 0, 3), coder=(5, 0, 1))
    research, coder = decide(CFG, busy, paused(), History(CFG), T0)
    assert (research.current, research.desired) == (3, 3)
    assert research.main_reason.rule == "pool paused"
    assert research.main_reason.detail == "paused by alice: holding 3 replicas"
    assert coder.desired == 5  # the other pool still follows its queue
    idle = observe(research=(0, 0, 3), coder=(0, 0, 1))
    (research, _) = decide(CFG, idle, paused(), History(CFG), T0)
    assert research.desired == 3  # not even the cooldown or zero moves it


def test_a_pool_paused_at_a_number_goes_there_at_once_past_every_time_rule() -> None:
    history = History(CFG)
    history.record_pool("research", 8, 20, T0 - 10)  # the down window would keep 8 ...
    history.record_scale("research", T0 - 10, 7, 8)  # ... and the rate policy 1 a minute
    obs = observe(research=(20, 0, 8), coder=(0, 0, 0))
    research, _ = decide(CFG, obs, paused(replicas=2, until=T0 + 600), history, T0)
    assert (research.current, research.desired) == (8, 2)
    assert research.main_reason.detail == (
        "paused by alice until 2026-01-01 00:10:00 UTC: set to 2, 8 -> 2"
    )
    assert [r.rule for r in research.reasons] == ["pool paused"]
    assert research.until == T0 + 600


def test_a_pool_paused_above_its_max_replicas_goes_to_its_max_replicas_and_says_so() -> None:
    """The dashboard asks for at most max_replicas, but the bucket may say up to 100,000 (`nats
    kv put`): a pool of max_replicas 6 went to its tenant's whole max_pods (14)."""
    obs = observe(research=(0, 0, 3), coder=(0, 0, 0))
    research, _ = decide(CFG, obs, paused(replicas=100_000), History(CFG), T0)
    assert (research.current, research.desired) == (3, 20)
    assert [r.detail for r in research.reasons] == [
        "paused by alice: set to 100000, 3 -> 20",
        "max_replicas 20: 100000 -> 20",
    ]


def test_a_pool_pause_ends_at_its_expiry_and_the_pool_follows_its_queue_again() -> None:
    obs = observe(research=(6, 0, 3), coder=(0, 0, 0))
    pause = paused(until=T0 + 60)
    (held, _) = decide(CFG, obs, pause, History(CFG), T0 + 59.9)
    assert held.desired == 3
    (free, _) = decide(CFG, obs, pause, History(CFG), T0 + 60)
    assert free.desired == 4  # one more a minute (the up rate policy), towards 6
    assert all(r.rule != "pool paused" for r in free.reasons)


def test_a_paused_controller_holds_every_pool_and_says_what_it_would_have_done() -> None:
    obs = observe(research=(9, 0, 2), coder=(0, 0, 0))
    research, coder = decide(CFG, obs, Overrides(paused=True), History(CFG), T0)
    assert (research.current, research.desired) == (2, 2)
    assert not research.changes
    assert research.main_reason.detail == (
        "paused by an operator: holding 2 replicas (would scale 2 -> 3)"
    )
    assert research.reasons[0].rule == "demand"  # the rest of the story is kept for Why
    assert coder.main_reason.detail == "paused by an operator: holding 0 replicas"


def test_pause_and_resume_are_actions_kept_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    clock = FakeClock(T0)
    store = OverrideStore(CFG, path, clock=clock, who=lambda: "alice")
    event = store.pause_pool("research", None, 300)
    assert (event.who, event.action, event.target, event.detail) == (
        "alice", "pause pool", "research", "hold replicas for 5 min")  # fmt: skip
    store.pause_pool("coder", 0, None)
    again = OverrideStore(CFG, path, clock=clock)
    assert again.current().paused_pools == {
        "research": PoolPause(None, T0 + 300, "alice", T0),
        "coder": PoolPause(0, None, "alice", T0),
    }
    event = again.resume_pool("research")
    assert (event.action, event.target) == ("resume pool", "research")
    assert set(OverrideStore(CFG, path).current().paused_pools) == {"coder"}
    with pytest.raises(KeyError, match="no pool named 'nope'"):
        again.pause_pool("nope", None, None)


def test_a_pin_and_a_pause_end_at_their_expiry_with_an_action_of_their_own(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    told: list[str] = []
    store = OverrideStore(CFG, tmp_path / "o.json", clock=clock, who=lambda: "alice")
    store.listeners.append(lambda _, event, __: told.append(f"{event.who} {event.action}"))
    store.pin("research", 4, 60)
    store.pause_pool("coder", 1, 120)
    told.clear()
    assert store.expire(T0 + 59) == []
    (pin,) = store.expire(T0 + 60)
    assert (pin.who, pin.action, pin.target) == ("agentdash", "pin expired", "research")
    assert pin.detail == "4 replicas, pinned by alice"
    (pause,) = store.expire(T0 + 200)
    assert (pause.action, pause.target) == ("pause expired", "coder")
    assert told == ["agentdash pin expired", "agentdash pause expired"]  # audited, as actions
    assert OverrideStore(CFG, tmp_path / "o.json").current() == Overrides()
    assert store.expire(T0 + 300) == []  # once


def test_a_pool_pause_in_the_file_or_the_kv_is_validated_as_pins_are() -> None:
    good = json.dumps({"paused_pools": {"research": {"replicas": 2, "until": T0, "by": "bo"},
                                        "gone": {}}})  # fmt: skip
    assert load_overrides(good, CFG, "o.json").paused_pools == {
        "research": PoolPause(2, T0, "bo")  # a pool the config no longer has is dropped
    }
    for bad, where in [
        ({"research": {"replicas": -1}}, "paused_pools.research.replicas"),
        ({"research": {"until": "soon"}}, "paused_pools.research.until"),
        ({"research": {"hold": True}}, "paused_pools.research.hold"),
        (["research"], "paused_pools"),
    ]:
        with pytest.raises(ConfigError) as refused:
            read_overrides(json.dumps({"paused_pools": bad}), "nats kv agentdash_overrides")
        assert str(refused.value).startswith(f"nats kv agentdash_overrides: {where}"), bad


def test_a_pin_reason_names_its_expiry_as_a_time_of_day() -> None:
    pins = Overrides(pins={"research": Pin(3, T0 + 90, "alice")})
    research, _ = decide(CFG, observe(research=(0, 0, 0), coder=(0, 0, 0)), pins, None, T0)
    assert (
        research.main_reason.detail
        == "pinned warm at 3 by alice until 2026-01-01 00:01:30 UTC: 0 -> 3"
    )


def test_a_paused_tenant_wins_over_its_pools_pause() -> None:
    """A tenant paused gets 0, its pools' pauses included: a pool paused at 5 kept 5 pods at
    work for a tenant paused before it, and its usage rose (found on the dashboard)."""
    obs = observe(research=(10, 0, 3), coder=(0, 0, 0))
    both = Overrides(
        paused_pools={"research": PoolPause(5, None, "alice", T0)}, paused_tenants={"acme"}
    )
    research, _ = decide(CFG, obs, both, History(CFG), T0)
    assert (research.current, research.desired) == (3, 0)
    assert research.main_reason.rule == "paused"


@pytest.mark.parametrize("replicas", [None, 4])
def test_a_pool_paused_while_its_tenants_hard_cap_is_reached_goes_to_zero(
    replicas: int | None,
) -> None:
    """A pause holds a pool whatever its queue and time rules say, but not past a hard cap: a
    pool paused at 4 when its tenant had spent its budget ran to 101% of it."""
    capped = {"acme": {"tier": "enterprise", "daily_token_budget": 1_000, "hard_cap": True},
              "globex": {"tier": "enterprise"}}  # fmt: skip
    cfg = config({"research": pool("acme"), "coder": pool("globex")}, capped)
    obs = observe({"acme": 1_000}, research=(10, 0, 2), coder=(0, 0, 0))
    research, _ = decide(cfg, obs, paused(replicas), History(cfg), T0)
    assert (research.current, research.desired) == (2, 0)
    assert [r.rule for r in research.reasons] == ["pool paused", "budget exhausted"]
    assert research.reasons[0].detail.endswith("but its tenant's hard cap is reached")


def test_a_pin_of_one_replica_expires_as_one_replica(tmp_path: Path) -> None:
    """The log and Events said "pin expired research (1 replicas, pinned by alice)"."""
    store = OverrideStore(CFG, tmp_path / "o.json", clock=FakeClock(T0), who=lambda: "alice")
    store.pin("research", 1, 60)
    (pin,) = store.expire(T0 + 60)
    assert pin.detail == "1 replica, pinned by alice"
