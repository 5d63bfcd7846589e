"""The timeline on Describe: a pool's replicas, desired, ready and lag over the last hour
(controller.runtime.timeline), drawn with textual-plotext."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from controller.runtime.timeline import WINDOW_S, Point

SERIES = ("replicas", "desired", "ready")


class TimelinePlot(PlotextPlot):
    DEFAULT_CSS = """
    TimelinePlot {
        height: 14;
    }
    """

    def show(self, points: Sequence[Point], now: float) -> None:
        """Each value holds until the next point: drawn as steps up to `now`, in minutes
        before it."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("Last hour: replicas, desired, ready (left); lag (right)")
        plt.xlabel("minutes ago")
        if not points:
            plt.text("no samples yet", x=0, y=0)
            self.refresh()
            return
        steps = [*points, points[-1]._replace(ts=now)]
        minutes = [max(-WINDOW_S, p.ts - now) / 60 for p in steps]
        xs = [x for k, x in enumerate(minutes) for _ in (0, 1)][1:]
        for field in SERIES:
            values = [getattr(p, field) for p in steps]
            ys = [y for y in values for _ in (0, 1)][:-1]
            plt.plot(xs, ys, label=field)
        lags = [p.lag for p in steps]
        plt.plot(xs, [y for y in lags for _ in (0, 1)][:-1], label="lag", yside="right")
        self.refresh()
