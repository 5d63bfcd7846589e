"""The dashboard app on the sample fleet, and the keys that reach a pool; the same fleet
following a hostile leader, and a driver that keeps what the terminal would receive."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from textual import events
from textual.app import App
from textual.drivers.headless_driver import HeadlessDriver
from textual.pilot import Pilot

from agentdash.example import EXAMPLE_CONFIG
from agentdash.tui.app import AgentDashApp
from agentdash.tui.feed import Feed
from agentdash.tui.sample import InstantCluster, sample_config, sample_feed
from controller.coordination.lease import BrokenLease
from controller.core.bad_messages import BadMessages
from controller.core.config import Config, parse_config
from controller.core.events import ActionEvent, ScaleEvent
from controller.core.model import ClusterEvent, Overrides, Pin, Pod, Reason
from controller.runtime.leadership import LeaseTeller
from tests.support.records import replaced

POOLS = ["acme-research", "acme-support", "globex-coder", "globex-triage", "initech-summarize"]


async def make(tmp_path: Path, read_only: bool = False) -> AgentDashApp:
    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    return AgentDashApp(feed, read_only=read_only, refresh_s=None)


async def make_lively(tmp_path: Path, pools: int = 10) -> AgentDashApp:
    """The dashboard on a synthetic sample fleet whose pools follow their lag at once (no
    stabilization): every change of queue moves replicas."""
    feed = await sample_feed(sample_config(pools), overrides=tmp_path / "overrides.json")
    return AgentDashApp(feed, refresh_s=None)


def with_target_wait(seconds: float, tier: str = "enterprise") -> Config:
    """The example fleet, its `tier` with a target_wait_seconds."""
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    raw["tiers"][tier]["target_wait_seconds"] = seconds
    return parse_config(raw, "the example, with a target wait")


async def make_with_target_wait(tmp_path: Path, seconds: float) -> AgentDashApp:
    """The dashboard on the sample fleet, its enterprise tier with a target wait."""
    config = with_target_wait(seconds)
    feed = await sample_feed(config, overrides=tmp_path / "overrides.json")
    return AgentDashApp(feed, refresh_s=None)


def down_to(pool: str) -> list[str]:
    return ["down"] * POOLS.index(pool)


def notes(app: App[Any]) -> list[str]:
    """The notices the app has shown, oldest first."""
    return [str(n.message) for n in app._notifications]


def screen_lines(app: App[Any]) -> list[str]:
    """The terminal as the operator sees it, line by line: a scroll bar or a dialog over
    what is under it (a widget's own render_line does not know what covers it)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def burst(pilot: Pilot[None], *keys: str) -> None:
    """Send `keys` as one burst, as several keys in one SSH packet arrive: every key is
    queued before the app reads the first (Pilot.press waits for the app after each)."""
    app = pilot.app
    assert app._driver is not None
    for key in keys:
        char = key if len(key) == 1 else {"tab": "\t", "backspace": "\x7f", "enter": "\r"}.get(key)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()
    await pilot.pause()


HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e[b]bold[/b]"
"""What an attacker who can write to NATS writes where the dashboard reads a name or a reason:
a terminal title, a screen clear, a C1 CSI, a bidi override, and Rich markup."""
HOSTILE_SHOWN = "evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202e[b]bold[/b]"
"""HOSTILE as the screen should show it: every control character an escape, no markup."""


class TerminalRecorder(HeadlessDriver):
    """A headless driver that keeps what the app writes to the terminal (one whose
    `is_headless` is true is never written to at all)."""

    written: list[str]

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        if not hasattr(self, "written"):
            self.written = []
        self.written.append(data)


def terminal_output(app: AgentDashApp) -> str:
    """Everything the app has written to its TerminalRecorder."""
    assert isinstance(app._driver, TerminalRecorder)
    return "".join(getattr(app._driver, "written", []))


class ForeignLease:
    """The lease as another process wrote it: this process never leads, and follows the
    holder the lease names."""

    def __init__(self, leader_name: str) -> None:
        self.holder = "this-dashboard"
        self.leader_name: str | None = leader_name
        self.valid_until = -1.0
        self.ttl = self.holder_ttl = 10.0
        self.contend = True
        self.broken: BrokenLease | None = None  # a Kubernetes Lease names any holder
        self.last_broken: BrokenLease | None = None
        self.unwritten: str | None = None

    async def renew(self) -> bool:
        return False

    async def release(self) -> None:
        """Never held."""


async def hostile_feed(tmp_path: Path) -> Feed:
    """The sample fleet, following a leader the lease names HOSTILE (a Kubernetes Lease names
    any holder; a NATS one would be broken): its decisions' reasons,
    the shared overrides' pin author, an operator event's author and detail, and the task of
    the first pool's one pod, and the cluster's Events all HOSTILE (the follower logs whom it
    follows)."""
    from agentdash.runtime import leader_said

    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    loop = feed.loop
    cluster = loop.actuator
    assert isinstance(cluster, InstantCluster)
    now = loop.clock()
    # a worker's busy report names the task it is on
    cluster.pods[POOLS[0]] = [Pod(f"{POOLS[0]}-1", POOLS[0], "Running", True, now, HOSTILE)]
    loop.lease = ForeignLease(HOSTILE)
    loop.lease_teller = LeaseTeller(loop.lease, loop.health, loop.bus, time.monotonic)
    await loop.tick()  # it learns who leads, and sees the pod
    hostile = Reason(rule="pinned", template=HOSTILE)
    decisions = [replaced(d, reasons=(hostile,)) for d in loop.decisions.values()]
    leader_said(loop, BadMessages())(HOSTILE, decisions, {d.pool: d.current for d in decisions})
    await loop.tick()  # it shows the leader's decisions
    loop.store.replace(Overrides(pins={POOLS[0]: Pin(replicas=2, by=HOSTILE, at=now)}))
    # an Event anyone who may create Events in the namespace can write
    event = ClusterEvent(
        last_seen=now, type="Warning", reason=HOSTILE, message=HOSTILE, source=HOSTILE
    )

    async def events_of(pool: str, pod: str | None = None) -> list[ClusterEvent]:
        return [event]

    cluster.events_of = events_of  # type: ignore[method-assign]
    loop.bus.publish(
        ActionEvent(ts=now, who=HOSTILE, action="pin", target=POOLS[0], detail=HOSTILE)
    )
    loop.bus.publish(ScaleEvent(ts=now, pool=POOLS[0], old=1, new=2, reasons=(hostile,)))
    return feed


async def make_hostile(tmp_path: Path) -> AgentDashApp:
    """The dashboard on `hostile_feed`, writing to a TerminalRecorder (run it with
    headless=False)."""
    app = AgentDashApp(await hostile_feed(tmp_path), refresh_s=None)
    app.driver_class = TerminalRecorder
    return app
