"""What needs attention (agentdash.tui.attention): a pool starved or stale for minutes, not a
blip; no leader, a paused or dry-run fleet; a budget running out within the hour; an override
with no end set hours ago; and every override in force with who set it and when."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from agentdash.tui.attention import LASTING_S, LONG_AGO_S, Attention, overrides_in_force
from controller.core.events import ActionEvent
from controller.core.model import Overrides, Pin, PoolPause
from controller.runtime.snapshot import FleetSnapshot
from tests.support.dashboard import make, screen_lines

T0 = 1_767_225_600.0


async def sample(tmp_path: Path) -> FleetSnapshot:
    app = await make(tmp_path)
    return app.feed.snapshot()


def at(snapshot: FleetSnapshot, ts: float, **states: str) -> FleetSnapshot:
    """The snapshot at `ts` with the given pools' STATE, the others steady."""
    pools = tuple(
        replace(row, state=states.get(row.name, "steady"), state_detail="why")
        for row in snapshot.pools
    )
    tenants = tuple(replace(t, burn_per_min=0.0) for t in snapshot.tenants)
    return replace(snapshot, ts=ts, pools=pools, tenants=tenants)


async def test_a_pool_starved_for_minutes_is_flagged_a_blip_is_not(tmp_path: Path) -> None:
    base, attention = await sample(tmp_path), Attention()
    for second in range(0, int(LASTING_S)):
        flags, _ = attention.look(at(base, T0 + second, **{"acme-research": "starved"}),
                                  Overrides(), [])  # fmt: skip
        assert flags == [], second
    flags, _ = attention.look(at(base, T0 + LASTING_S, **{"acme-research": "starved"}),
                              Overrides(), [])  # fmt: skip
    assert [(f.severity, f.what, f.target) for f in flags] == [
        ("alarm", "starved", "acme-research")
    ]
    assert flags[0].detail == "for 2 min: why"
    # Recovered, then starved again: the clock starts over.
    attention.look(at(base, T0 + LASTING_S + 1), Overrides(), [])
    flags, _ = attention.look(at(base, T0 + LASTING_S + 2, **{"acme-research": "stale"}),
                              Overrides(), [])  # fmt: skip
    assert flags == []


async def test_no_leader_a_paused_or_dry_run_fleet_and_a_budget_running_out(
    tmp_path: Path,
) -> None:
    base = await sample(tmp_path)
    snapshot = replace(at(base, T0), leaderless=True)
    globex = next(t for t in snapshot.tenants if t.name == "globex")
    left = (globex.budget or 0) - globex.tokens_today
    tenants = tuple(
        replace(t, burn_per_min=left / 30) if t.name == "globex" else t for t in snapshot.tenants
    )  # 30 minutes to go
    flags, _ = Attention().look(
        replace(snapshot, tenants=tenants), Overrides(paused=True, dry_run=True), []
    )
    assert [(f.severity, f.what, f.target) for f in flags] == [
        ("alarm", "no leader", "controller"),
        ("alarm", "paused", "controller"),
        ("alarm", "dry-run", "controller"),
        ("warning", "budget", "globex"),
    ]
    assert flags[-1].detail.startswith("runs out in 30 min at its burn rate")


async def test_a_budget_already_spent_is_an_alarm_not_a_warning_that_it_runs_out_in_0_s(
    tmp_path: Path,
) -> None:
    snapshot = at(await sample(tmp_path), T0)
    tenants = tuple(
        replace(t, tokens_today=(t.budget or 0) + 10_702, burn_per_min=1000.0)
        if t.name == "globex"
        else t
        for t in snapshot.tenants
    )
    flags, _ = Attention().look(replace(snapshot, tenants=tenants), Overrides(), [])
    (flag,) = [f for f in flags if f.what == "budget"]
    assert (flag.severity, flag.target) == ("alarm", "globex")
    assert flag.detail.startswith("spent (")
    assert flag.detail.endswith(": its pools held at 0")  # globex is hard-capped
    assert "runs out" not in flag.detail


async def test_every_override_in_force_says_who_set_it_when_and_an_old_one_is_flagged(
    tmp_path: Path,
) -> None:
    base = await sample(tmp_path)
    overrides = Overrides(
        pins={"acme-research": Pin(replicas=3, by="alice", at=T0 - LONG_AGO_S)},
        paused_tenants=frozenset({"initech"}),
        paused_pools={"globex-coder": PoolPause(1, T0 + 600, "bob", T0 - 60)},
        dry_run=True,
    )
    log = [ActionEvent(T0 - 300, "carol", "pause tenant", "initech"),
           ActionEvent(T0 - 200, "dave", "dry-run on", "controller")]  # fmt: skip
    listed = [(i.kind, i.target, i.what, i.by, i.since, i.until)
              for i in overrides_in_force(overrides, log)]  # fmt: skip
    assert listed == [
        ("pin", "acme-research", "3 replicas", "alice", T0 - LONG_AGO_S, None),
        ("pause pool", "globex-coder", "at 1", "bob", T0 - 60, T0 + 600),
        ("pause tenant", "initech", "to 0", "carol", T0 - 300, None),
        ("dry-run", "controller", "every pool", "dave", T0 - 200, None),
    ]
    flags, _ = Attention().look(at(base, T0), overrides, log)
    old = [(f.what, f.target, f.detail) for f in flags if f.what.startswith("old")]
    assert old == [("old pin", "acme-research", "3 replicas, set 4.0 h ago by alice, no end")]


async def test_a_pool_whose_oldest_task_waits_past_its_tiers_target_is_flagged(
    tmp_path: Path,
) -> None:
    base = at(await sample(tmp_path), T0)
    late = replace(base.pools[0], oldest_wait_s=42.0, target_wait_s=10.0)
    on_time = replace(base.pools[1], oldest_wait_s=4.0, target_wait_s=10.0)
    snapshot = replace(base, pools=(late, on_time, *base.pools[2:]))
    flags, _ = Attention().look(snapshot, Overrides(), [])
    assert [(f.severity, f.what, f.target, f.detail) for f in flags] == [
        ("warning", "waiting", late.name,
         "its oldest task has waited 42 s, past its tier's 10 s target"),
    ]  # fmt: skip


def test_an_override_set_again_by_an_unknown_writer_is_not_said_to_be_the_first_setters() -> None:
    """carol paused initech and resumed it; a `nats kv put` paused it again (no name): the
    list said carol had set it, at her time. Likewise a pin that names no author, written over
    one alice had set."""
    overrides = Overrides(
        pins={"acme-research": Pin(replicas=5)}, paused_tenants=frozenset({"initech"})
    )
    log = [
        ActionEvent(T0 - 300, "carol", "pause tenant", "initech"),
        ActionEvent(T0 - 250, "alice", "pin", "acme-research", "3 replicas"),
        ActionEvent(T0 - 200, "carol", "resume tenant", "initech"),
        ActionEvent(T0 - 100, "unknown writer", "foreign write", "agentdash_overrides/overrides"),
    ]
    listed = [(i.kind, i.target, i.by, i.since) for i in overrides_in_force(overrides, log)]
    assert listed == [("pin", "acme-research", None, None), ("pause tenant", "initech", None, None)]
    again = [*log, ActionEvent(T0 - 50, "dave", "pause tenant", "initech")]
    assert [(i.by, i.since) for i in overrides_in_force(overrides, again)][1] == ("dave", T0 - 50)


async def test_an_action_not_yet_shared_for_a_few_seconds_is_flagged(tmp_path: Path) -> None:
    """A pin taken while NATS is away shows as pinned on the screen that took it, and no
    other process has it: the leader does not keep the pool warm, and it is lost if the
    dashboard quits first. Nothing said so."""
    base = at(await sample(tmp_path), T0)
    waiting = ActionEvent(T0 - 30, "alice", "pin", "acme-research", "3 replicas")
    just_now = ActionEvent(T0 - 1, "alice", "pause tenant", "initech")
    flags, _ = Attention().look(base, Overrides(), [], [waiting, just_now])
    shared = [(f.severity, f.what, f.target, f.detail) for f in flags if f.what == "not shared"]
    assert shared == [
        (
            "warning",
            "not shared",
            "acme-research",
            "pin acme-research, 30 s ago: not yet written to NATS, so no other process has it",
        )
    ]


async def test_an_override_ending_on_another_day_shows_its_date_not_only_a_time_of_day(
    tmp_path: Path,
) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        now = app.feed.snapshot().ts
        app.feed.announce(app.feed.store.pin("acme-research", 2, 1500 * 60))  # 25 h
        app.feed.announce(app.feed.store.pause_pool("globex-coder", 1, 60))
        await app.feed.loop.tick()
        await pilot.press("exclamation_mark")
        await pilot.pause()
        lines = screen_lines(app)
    (pin,) = [line for line in lines if line.startswith(" pin ")]
    tomorrow = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now + 1500 * 60))
    assert tomorrow in pin, pin
    (paused,) = [line for line in lines if line.startswith(" pause pool ")]
    assert time.strftime("%H:%M:%S UTC", time.gmtime(now + 60)) in paused
    assert time.strftime("%Y-%m-%d", time.gmtime(now + 60)) not in paused  # today: no date


async def test_a_tenant_its_budget_holds_at_0_is_said_held_not_to_run_out_in_0_s(
    tmp_path: Path,
) -> None:
    snapshot = at(await sample(tmp_path), T0)
    tenants = tuple(
        replace(t, tokens_today=4_993_441, budget=5_000_000, burn_per_min=1_220_000.0, held=True)
        if t.name == "globex"
        else t
        for t in snapshot.tenants
    )
    flags, _ = Attention().look(replace(snapshot, tenants=tenants), Overrides(), [])
    (flag,) = [f for f in flags if f.what == "budget"]
    assert (flag.severity, flag.target) == ("warning", "globex")
    assert flag.detail == "its pools held at 0 by its budget (4,993,441 of 5,000,000 tokens)"


async def test_the_overrides_in_force_are_counted_and_none_is_said(tmp_path: Path) -> None:
    """With nothing pinned or paused the list under its title was an empty table, its
    column names alone, as if it had not loaded."""
    app = await make(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("exclamation_mark")
        await pilot.pause()
        before = screen_lines(app)
        await pilot.press("escape")
        app.feed.announce(app.feed.store.pin("acme-research", 2, 600))
        app.feed.announce(app.feed.store.pause_pool("globex-coder", 1, 60))
        await app.feed.loop.tick()
        await pilot.press("exclamation_mark")
        await pilot.pause()
        after = screen_lines(app)
    assert any(line.strip() == "Overrides in force: none" for line in before), before
    assert any(line.strip() == "Overrides in force: 2" for line in after), after
