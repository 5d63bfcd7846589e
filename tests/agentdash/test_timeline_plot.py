"""Describe's timeline as an operator reads it: counts from 0 in whole numbers, and time
counted back from now in a unit that suits the span (seconds in a fleet's first minutes)."""

from __future__ import annotations

import re

from textual.app import App, ComposeResult

from agentdash.tui.timeline_plot import MARKERS, TimelinePlot
from controller.runtime.timeline import Point
from tests.support.dashboard import screen_lines

NOW = 1_000_000.0


class PlotApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TimelinePlot()


async def plotted(points: list[Point], *, no_color: bool = False) -> list[str]:
    app = PlotApp()
    app.no_color = no_color  # as NO_COLOR=1 sets it
    async with app.run_test(size=(100, 16)) as pilot:
        app.query_one(TimelinePlot).show(points, NOW)
        await pilot.pause()
        return screen_lines(app)


def axis_labels(lines: list[str]) -> list[str]:
    """The numbers beside the frame, left and right (the frame's corners are ┌└┐┘)."""
    rows = [line for line in lines if "┤" in line or "├" in line]
    return [n for line in rows for n in re.findall(r"-?[\d.]+(?=┤)|(?<=├)-?[\d.]+", line)]


async def test_a_pool_seen_for_seconds_reads_in_seconds_from_zero_replicas() -> None:
    lines = await plotted([Point(NOW - 7.7, 0, 0, 0, 0)])  # nothing running, 7.7 s in
    text = "\n".join(lines)
    assert "seconds ago" in text
    assert "minutes ago" not in text
    assert not re.search(r"-\d", text)  # no negative replicas, no time after now
    assert sorted(set(axis_labels(lines))) == ["0", "1"]
    bottom = next(line for line in lines if line.rstrip().endswith("now"))
    assert bottom.split() == ["30", "20", "10", "now"]


async def test_a_pool_seen_for_most_of_the_hour_reads_in_minutes() -> None:
    points = [Point(NOW - 3000 + 60 * i, i % 7, i % 7, i % 5, (i * 3) % 11) for i in range(50)]
    lines = await plotted(points)
    text = "\n".join(lines)
    assert "minutes ago" in text
    assert not re.search(r"-\d", text)
    labels = axis_labels(lines)
    assert all(label.isdigit() for label in labels)  # whole numbers of pods and tasks
    assert "0" in labels
    assert max(map(int, labels)) >= 10  # lag reached 10
    bottom = next(line for line in lines if line.rstrip().endswith("now"))
    assert bottom.split() == ["60", "40", "20", "now"]


async def test_without_color_each_line_has_a_marker_of_its_own_as_its_legend_says() -> None:
    """With NO_COLOR=1 the four lines were the same braille dots in grey: which is lag?"""
    points = [Point(NOW - 600 + 60 * i, 2 + i % 3, 3 + i % 2, 1 + i % 2, 9 - i) for i in range(10)]
    text = "\n".join(await plotted(points, no_color=True))
    for field, marker in MARKERS.items():
        assert f"{marker} {field}" in text  # the legend
        assert text.count(marker) > 1  # and the line it names


async def test_the_plot_is_drawn_again_only_when_a_column_of_time_has_passed() -> None:
    """Describe refreshes twice a second, and plotext took as long as the rest of the page:
    left open at 200x60, Describe cost 14% of a core against Fleet's 5%. An hour across 100
    columns is 36 s a column: half a second later nothing it would draw has moved."""
    points = [Point(NOW - 3600 + 60 * i, i % 7, i % 7, i % 5, (i * 3) % 11) for i in range(60)]
    app = PlotApp()
    async with app.run_test(size=(100, 16)) as pilot:
        plot = app.query_one(TimelinePlot)
        plot.show(points, NOW)
        await pilot.pause()
        drawn = screen_lines(app)
        redrawn: list[bool] = []
        plot.refresh = lambda *a, **k: redrawn.append(True) or plot  # type: ignore[method-assign]
        for tick in range(1, 11):
            plot.show(points, NOW + tick / 2)
        assert redrawn == []
        assert screen_lines(app) == drawn
        plot.show(points, NOW + 40)  # a column's worth later
        assert redrawn == [True]
        plot.show([*points, Point(NOW + 40.5, 9, 9, 9, 9)], NOW + 40.5)  # a new point: at once
        assert redrawn == [True, True]
