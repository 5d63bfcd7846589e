"""The timeline on Describe: a pool's replicas, desired, ready and lag over the last hour
(controller.runtime.timeline), drawn with textual-plotext."""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual_plotext import PlotextPlot

from controller.runtime.timeline import WINDOW_S, Point

SERIES = ("replicas", "desired", "ready")
MARKERS = {"replicas": "•", "desired": "+", "ready": "x", "lag": "~"}
"""Without color (NO_COLOR=1) the lines differ only by their marker: each series has one of
its own, as the legend shows, where plotext's braille would draw all four alike."""
SECONDS_UNDER_S = 180.0
"""A span shorter than this is read in seconds: "0.13 minutes ago" means nothing at a glance."""
LEAST_SPAN_S = 30.0
"""A fleet that started a moment ago still gets an axis a person can read."""
TICKS = 4


def whole_ticks(top: float) -> list[int]:
    """0 up to at least `top` in at most TICKS + 1 whole, round steps: counts of replicas or
    tasks are never negative nor fractions, and a flat 0 is drawn on the floor, not mid-air."""
    step = max(1, math.ceil(max(top, 1) / TICKS))
    magnitude = 10 ** (len(str(step)) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= step)
    return list(range(0, step * (math.ceil(max(top, 1) / step) + 1), step))


def time_ticks(span_s: float) -> tuple[float, str, list[float], list[str]]:
    """The time axis over the last `span_s`: its unit in seconds, its label, and where the
    ticks go (before now, so negative) with what they say (how long ago, so positive)."""
    unit, name = (1.0, "seconds") if span_s < SECONDS_UNDER_S else (60.0, "minutes")
    ago = whole_ticks(span_s / unit)
    labels = ["now" if t == 0 else str(t) for t in ago]
    return unit, f"{name} ago", [-float(t) for t in ago], labels


class TimelinePlot(PlotextPlot):
    DEFAULT_CSS = """
    TimelinePlot {
        height: 14;
    }
    """

    _drawn: tuple[list[Point], float] | None = None
    """The points last drawn, and the `now` they were drawn to."""

    def show(self, points: Sequence[Point], now: float) -> None:
        """Each value holds until the next point: drawn as steps up to `now`, counted back
        from it in seconds or minutes, counts from 0 in whole numbers. Drawn again only when
        its points change or a column's worth of time has passed: plotext takes as long as the
        rest of Describe, and the screen refreshes twice a second (an hour at 190 columns is
        19 s a column)."""
        if self._drawn is not None and self._drawn[0] == list(points):
            span_s = max(LEAST_SPAN_S, min(WINDOW_S, now - points[0].ts)) if points else 0
            if now - self._drawn[1] < span_s / max(1, self.size.width):
                return
        self._drawn = (list(points), now)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("Last hour: replicas, desired, ready (left); lag (right)")
        if not points:
            plt.xlabel("minutes ago")
            plt.text("no samples yet", x=0, y=0)
            self.refresh()
            return
        steps = [*points, points[-1]._replace(ts=now)]
        span_s = max(LEAST_SPAN_S, min(WINDOW_S, now - steps[0].ts))
        unit, label, ticks, labels = time_ticks(span_s)
        plt.xlabel(label)
        times = [max(-WINDOW_S, p.ts - now) / unit for p in steps]
        xs = [x for x in times for _ in (0, 1)][1:]
        plain = self.app.no_color
        for field in SERIES:
            ys = [y for p in steps for y in (getattr(p, field),) * 2][:-1]
            plt.plot(xs, ys, label=field, marker=MARKERS[field] if plain else None)
        lags = [y for p in steps for y in (p.lag,) * 2][:-1]
        plt.plot(xs, lags, label="lag", yside="right", marker=MARKERS["lag"] if plain else None)
        plt.xlim(ticks[-1], 0)
        plt.xticks(ticks, labels)
        for side, top in (
            ("left", max(getattr(p, field) for p in steps for field in SERIES)),
            ("right", max(p.lag for p in steps)),
        ):
            counts = whole_ticks(top)
            # textual-plotext's stubs type yside as a float; plotext takes "left" or "right".
            plt.ylim(0, counts[-1], yside=side)  # type: ignore[arg-type]
            labels = [str(c) for c in counts]
            plt.yticks([float(c) for c in counts], labels, yside=side)  # type: ignore[arg-type]
        self.refresh()
