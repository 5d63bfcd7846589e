"""Nothing from outside reaches a terminal raw: a lease holder, an override's author, a
reason, a task, a ScaledObject's name or an error carrying escape sequences is shown with
them escaped, on the dashboard, in the daemon's log and in the CLI's messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentdash.cli import main
from agentdash.daemon import set_log_level
from agentdash.runtime import emit
from tests.support.dashboard import (
    HOSTILE,
    HOSTILE_SHOWN,
    hostile_feed,
    make_hostile,
    terminal_output,
)
from tests.support.escapes import UNPRINTABLE, strings

RAW = ("\x1b]0;pwned", "pwned\x07", "\x1b[2J", "\x9b", "\u202e")
"""What HOSTILE carries that a terminal would act on (Textual ends its own OSC with a BEL)."""
SHOWN = HOSTILE_SHOWN
SCREENS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fleet": ((), (f"following {SHOWN}", f"pinned: {SHOWN}")),
    "events": (("e",), (f"by {SHOWN}: {SHOWN}", f"pinned: {SHOWN}", f"following {SHOWN}")),
    "an action": (("e", "down"), (f"pin: by {SHOWN}: {SHOWN}",)),
    "a health event": (("e", "down", "down"), (f"recovered: following {SHOWN}",)),
    "attention": (("exclamation_mark",), ("evil\\x1b]0;…",)),  # its BY column cuts it
    "describe": (("i",), (f"by {SHOWN}", f"pinned: {SHOWN}")),
    "why": (("enter",), (f"pinned: {SHOWN}",)),
    "pods": (("p",), (SHOWN,)),
    "pod": (("p", "enter"), (SHOWN,)),
}
"""Each screen, the keys that open it from Fleet, and the escaped forms it shows."""


@pytest.mark.parametrize("screen", list(SCREENS))
async def test_the_terminal_receives_no_escape_from_what_nats_says(
    tmp_path: Path, screen: str
) -> None:
    keys, shown = SCREENS[screen]
    app = await make_hostile(tmp_path)
    async with app.run_test(headless=False, size=(200, 60)) as pilot:
        await pilot.pause()
        before = len(terminal_output(app)) if keys else 0
        await pilot.press(*keys)
        await app.workers.wait_for_complete()  # describe and a pod read the cluster's Events
        await pilot.pause()
        out = terminal_output(app)
    assert [raw for raw in RAW if raw in out] == []
    assert [text for text in shown if text not in out[before:]] == []
    # and its markup is shown as it is, never read: each \u202e is still followed by it
    assert out.count("\\u202e") == out.count("\\u202e[b]bold[/b]")


KEDA_EXAMPLE = Path(__file__).parents[1] / "data" / "keda" / "nats-jetstream.yaml"


async def test_the_daemon_log_shows_what_nats_says_escaped(
    tmp_path: Path, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`jq -r` on the daemon's log prints no escape sequence from NATS."""
    set_log_level("info")
    feed = await hostile_feed(tmp_path)  # the loop logs whom it follows
    for event in feed.events():  # the daemon writes each event as a JSON line
        emit(event.as_dict())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [text for line in lines for text in strings(line) if UNPRINTABLE.search(text)] == []
    messages = [line.get("message") for line in lines if line["type"] == "log"]
    assert f"lease: following {HOSTILE_SHOWN}" in messages
    assert {"type": "action", "who": HOSTILE_SHOWN, "detail": HOSTILE_SHOWN}.items() <= next(
        line for line in lines if line["type"] == "action"
    ).items()


def keda_example(tmp_path: Path, **spec: Any) -> Path:
    """KEDA's docs' ScaledObject, its metadata and spec changed."""
    (scaled,) = yaml.safe_load_all(KEDA_EXAMPLE.read_text())
    scaled["metadata"] = spec.pop("metadata", scaled["metadata"])
    scaled["spec"].update(spec)
    path = tmp_path / "so.yaml"
    path.write_text(yaml.safe_dump(scaled))
    return path


def test_import_keda_names_a_hostile_scaled_object_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = keda_example(tmp_path, metadata={"name": HOSTILE})
    assert main(["import", "keda", str(path)]) == 2  # not a pool's name
    (error,) = capsys.readouterr().err.splitlines()
    assert error.startswith(f"agentdash: {path}: ScaledObject default/{HOSTILE_SHOWN}: ")
    assert not UNPRINTABLE.search(error)


def test_import_keda_names_a_hostile_field_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = keda_example(tmp_path, **{HOSTILE: 1})
    assert main(["import", "keda", str(path)]) == 0
    out, err = capsys.readouterr()
    warning = f": spec.{HOSTILE_SHOWN}: no equivalent; ignored"
    assert [line for line in err.splitlines() if line.endswith(warning)] != []
    assert [line for line in (out + err).splitlines() if UNPRINTABLE.search(line)] == []
