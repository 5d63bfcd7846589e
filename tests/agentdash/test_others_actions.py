"""Who logs an operator action another process took (agentdash/others_actions.py): the
leader once; a follower keeps it until the leader says it has read it, and logs it if it
comes to lead first. A stand-in loop and lease: what is decided here is only who logs."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from agentdash.others_actions import OthersActions
from controller.core.events import ActionEvent

PIN = ActionEvent(1_000.0, "alice", "pin", "acme-research", "3 replicas")


def process(leading: bool, valid_for: float = 10.0) -> tuple[Any, OthersActions, list[Any]]:
    lease = SimpleNamespace(valid_until=time.monotonic() + valid_for)
    loop = SimpleNamespace(leading=leading, lease=lease, leader="old-leader")
    logged: list[Any] = []
    return loop, OthersActions(loop, logged.append), logged  # type: ignore[arg-type]


def test_the_leader_logs_an_action_at_once_and_a_follower_never_once_the_leader_read_it() -> None:
    _, leader, leader_logged = process(leading=True)
    leader.told(PIN, "laptop:1", 7)
    assert [e["action"] for e in leader_logged] == ["pin"]
    loop, follower, follower_logged = process(leading=False)
    follower.told(PIN, "laptop:1", 7)
    follower.leader_read("old-leader", 7)
    loop.leading = True  # it leads later: the old leader had read it
    follower.ticked()
    assert follower_logged == []


def test_a_follower_that_comes_to_lead_logs_what_the_dead_leader_never_read() -> None:
    loop, follower, logged = process(leading=False)
    follower.told(PIN, "laptop:1", 8)
    follower.leader_read("old-leader", 7)  # its last message, before the pin
    follower.leader_read("someone-else", 9)  # not the lease's holder: no word on it
    follower.ticked()
    assert logged == []
    loop.leading = True
    follower.ticked()
    assert [(e["action"], e["from"]) for e in logged] == [("pin", "laptop:1")]
    follower.ticked()
    assert len(logged) == 1  # once


def test_a_leader_resumed_after_its_lease_ran_out_keeps_what_it_reads() -> None:
    """SIGSTOP on the leader, a pin, another daemon leads and logs it, SIGCONT: the old
    leader still said it led until its next renewal, and logged the pin too."""
    loop, resumed, logged = process(leading=True, valid_for=-1.0)
    resumed.told(PIN, "laptop:1", 8)
    assert logged == []
    loop.leading = False  # its renewal found the lease another's
    resumed.leader_read("old-leader", 8)  # (the holder's name, as it follows it)
    resumed.ticked()
    assert logged == []
