"""The palette's Screenshot where there is no Downloads folder (a server reached over SSH, a
container): saved in the folder the dashboard was started from, and the notice says where; or,
where that cannot be written either, the notice says why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.command import CommandList
from textual.content import Content

from agentdash.tui.app import AgentDashApp
from tests.support import eventually
from tests.support.dashboard import make, notes


@pytest.fixture
def no_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))  # no user-dirs.dirs either


async def take_screenshot(app: AgentDashApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("colon", *"Screenshot")
        await eventually(lambda: app.screen.query_one(CommandList).option_count > 0)
        await pilot.press("enter")
        await eventually(lambda: any("screenshot" in note for note in notes(app)))
        await pilot.pause(0.3)  # the notice drawn


def saved_to(note: str) -> str:
    """The path a "Saved screenshot to" notice names, its lines joined (broken after its
    folders to fit the toast)."""
    first, *path = Content.from_markup(note).plain.splitlines()
    assert first == "Saved screenshot to"
    return "".join(path)


def not_saved(note: str) -> tuple[str, str]:
    """The path and the reason a "Could not save" notice (plain text, never markup) names."""
    first, *path, why = note.splitlines()
    assert first == "Could not save the screenshot,"
    return "".join(path), why


@pytest.mark.usefixtures("no_downloads")
async def test_without_downloads_the_screenshot_is_saved_where_the_dashboard_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    app = await make(tmp_path)
    await take_screenshot(app)
    [saved] = here.glob("*.svg")
    assert "agentdash" in saved.read_text()
    # named in UTC, as the screen says the time (it was the local time, with no zone)
    assert re.fullmatch(r"agentdash_\d{4}-\d\d-\d\dT\d\d_\d\d_\d\d_\d{6}Z\.svg", saved.name)
    [note] = notes(app)
    assert saved_to(note) == repr(str(saved))
    lines = Content.from_markup(note).plain.splitlines()
    assert max(len(line) for line in lines) <= 36  # a toast's text at 80 columns
    assert all(line.endswith(("/", "_", "-", ".")) for line in lines[1:-1]), lines


@pytest.mark.usefixtures("no_downloads")
async def test_a_screenshot_that_cannot_be_saved_says_where_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make(tmp_path)
    monkeypatch.chdir("/proc")  # no new file can go there, even for root
    await take_screenshot(app)
    [note] = notes(app)
    path, why = not_saved(note)
    assert path.startswith("/proc/agentdash")
    assert path.endswith(".svg:")
    assert why == "No such file or directory"


@pytest.mark.usefixtures("no_downloads")
async def test_a_folder_whose_name_reads_as_markup_is_named_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Textual's own notice read the path as markup: from `a[/b]` the screenshot was saved,
    # and its notice stopped the dashboard with a MarkupError.
    here = tmp_path / "a[" / "b]"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    app = await make(tmp_path)
    await take_screenshot(app)
    [saved] = here.glob("*.svg")
    [note] = notes(app)
    assert saved_to(note) == repr(str(saved))


@pytest.mark.usefixtures("no_downloads")
async def test_a_screenshot_that_cannot_be_saved_names_the_folder_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make(tmp_path)
    nowhere = Path("/proc/a[/b]")  # no such folder, and none can be made there, even by root
    monkeypatch.setattr(Path, "cwd", classmethod(lambda cls: nowhere))
    await take_screenshot(app)
    [note] = notes(app)
    path, _ = not_saved(note)
    assert path.startswith(f"{nowhere}/agentdash")
