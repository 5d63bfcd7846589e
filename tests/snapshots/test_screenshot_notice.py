"""What the palette's Screenshot says at 80x24 where it saved the SVG, or why it could not:
a long path on lines of its own, broken after its folders (Textual broke it wherever a line
ran out: "/Dow" and "nloads/", "2026-11" and "-29T04")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events
from textual.content import Content
from textual.pilot import Pilot

from tests.support.dashboard import notes
from tests.support.snapshots import AppFactory

FOLDER = "/home/operator-with-a-long-name/Downloads/screenshots"
SAVED = Path(FOLDER, "agentdash_2026-11-29T04_31_10_123456Z.svg")
TOAST_TEXT_WIDTH = 36  # a toast at 80 columns: half the screen, less its border and padding


async def delivered(pilot: Pilot[None]) -> None:
    """What Textual says once the screenshot is written (the path fixed, not the test's own
    temporary folder, so that the snapshot stays the same)."""
    pilot.app.post_message(events.DeliveryComplete(key="k", path=SAVED, name="screenshot"))
    await pilot.pause()


async def failed(pilot: Pilot[None]) -> None:
    error = FileNotFoundError(2, "No such file or directory", str(SAVED))
    pilot.app.post_message(events.DeliveryFailed(key="k", exception=error, name="screenshot"))
    await pilot.pause()


def said(note: str) -> list[str]:
    return Content.from_markup(note).plain.splitlines()


def test_the_saved_notice_breaks_the_path_after_its_folders(
    snap_compare: Any, make_app: AppFactory
) -> None:
    app = make_app()
    assert snap_compare(app, run_before=delivered, terminal_size=(80, 24))
    [note] = notes(app)
    assert said(note) == [
        "Saved screenshot to",
        "'/home/operator-with-a-long-name/",
        "Downloads/screenshots/",
        "agentdash_2026-11-29T04_31_10_",
        "123456Z.svg'",
    ]


def test_the_failed_notice_breaks_the_path_after_its_folders(
    snap_compare: Any, make_app: AppFactory
) -> None:
    app = make_app()
    assert snap_compare(app, run_before=failed, terminal_size=(80, 24))
    [note] = notes(app)  # said as it is, never read as markup
    assert note.splitlines() == [
        "Could not save the screenshot,",
        "/home/operator-with-a-long-name/",
        "Downloads/screenshots/",
        "agentdash_2026-11-29T04_31_10_",
        "123456Z.svg:",
        "No such file or directory",
    ]
    assert max(len(line) for line in note.splitlines()) <= TOAST_TEXT_WIDTH
