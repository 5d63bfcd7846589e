"""The Pods table at 80 columns says each pod's phase and task whole: a pod that cannot run read
`Unschedula…` and a pod of a pool working two tasks at once (the demo's `t000335 +1`)
`t00033…`, while POOL, which the title or the pod's name already says, took 17 columns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from controller.core.model import Pod
from tests.support import eventually
from tests.support.dashboard import make, screen_lines


def waiting_and_busy(pods: list[Pod]) -> None:
    """The pool's first pod works two tasks, its second cannot be scheduled."""
    pods[0] = replace(pods[0], task="t000335 +1")
    pods[1] = replace(pods[1], phase="Pending", ready=False, waiting="Unschedulable")


@pytest.mark.parametrize("keys", [("p",), ("p", "a")], ids=["one pool", "all pools"])
async def test_at_80_columns_a_pods_phase_and_task_are_whole(
    tmp_path: Path, keys: tuple[str, ...]
) -> None:
    app = await make(tmp_path)
    cluster = app.feed.loop.actuator
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        waiting_and_busy(cluster.pods["acme-research"])
        await app.feed.loop.tick()
        app.refresh_feed()
        await pilot.press(*keys)
        await eventually(lambda: any("Unschedul" in line for line in screen_lines(app)))
        lines = screen_lines(app)
        assert any("Unschedulable" in line for line in lines), "\n".join(lines)
        assert any("t000335 +1" in line for line in lines), "\n".join(lines)
