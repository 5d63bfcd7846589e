"""An SVG of the backtest, written by hand (no plotting library): queue lag and pods over time,
one line per policy, two panels sharing the time axis, so the difference shows at a glance.

Each point is the peak within its sample interval (a burst shorter than the interval still
shows at its height).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from controller.simulate.backtest import Backtest

COLORS = {"agentdash": "#2563eb", "keda": "#d97706", "hpa": "#059669"}
_FALLBACK = ("#7c3aed", "#db2777", "#4b5563")
WIDTH, PANEL, TOP, LEFT, RIGHT, GAP = 960, 220, 76, 64, 24, 48
HOUR_STEPS = (0.25, 0.5, 1, 2, 3, 4, 6, 12, 24, 48, 96, 168)
"""Hours between the time axis's ticks, the first that makes at most 12 of them: a trace may
span 31 days and its drain as long again (1,488 h), a week apart at most."""
SHORT_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
"""Seconds between the ticks of a replay shorter than an hour, said in seconds or minutes: in
hours its one tick was `0 h`."""


def svg(result: Backtest, title: str) -> str:
    """The whole document."""
    height = TOP + 2 * PANEL + GAP + 48
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    parts += _legend(result)
    panels = (("queue lag (pending + ack_pending), all pools", 1), ("pods (cost)", 2))
    for n, (label, column) in enumerate(panels):
        top = TOP + n * (PANEL + GAP)
        series = {r.name: [(row[0], row[column]) for row in r.series] for r in result.runs}
        # Every task at 0 with no drain is a horizon of 0: the axis still needs a width.
        horizon = result.horizon if result.horizon > 0 else 1.0
        parts += _panel(label, top, horizon, series, last=n == len(panels) - 1)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _legend(result: Backtest) -> list[str]:
    parts, x = [], LEFT
    for i, run in enumerate(result.runs):
        color = _color(run.name, i)
        summary = run.summary
        text = (
            f"{run.name}: p95 wait {_seconds(summary['wait_p95_s'])}, "
            f"{_cost(summary['pod_seconds'])}"
        )
        parts.append(f'<rect x="{x}" y="38" width="14" height="4" fill="{color}"/>')
        parts.append(f'<text x="{x + 20}" y="44">{escape(text)}</text>')
        x += 20 + 7 * len(text) + 24
    return parts


def _panel(
    label: str,
    top: int,
    horizon: float,
    series: dict[str, list[tuple[float, float]]],
    *,
    last: bool,
) -> list[str]:
    width, bottom = WIDTH - LEFT - RIGHT, top + PANEL
    peak = max((v for points in series.values() for _, v in points), default=0)
    scale = _nice(peak)
    parts = [
        f'<text x="{LEFT}" y="{top - 8}" font-weight="bold">{escape(label)}</text>',
        f'<rect x="{LEFT}" y="{top}" width="{width}" height="{PANEL}" fill="none" stroke="#999"/>',
    ]
    for k in range(1, 4):  # horizontal grid lines at quarters of the scale
        y = bottom - PANEL * k / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + width}" y2="{y:.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{scale * k / 4:g}</text>'
        )
    parts.append(f'<text x="{LEFT - 6}" y="{bottom + 4}" text-anchor="end">0</text>')
    if last:
        parts += _time_axis(horizon, bottom, width)
    for i, (name, points) in enumerate(series.items()):
        coords = " ".join(
            f"{LEFT + width * t / horizon:.1f},{bottom - PANEL * v / scale:.1f}" for t, v in points
        )
        parts.append(
            f'<polyline fill="none" stroke="{_color(name, i)}" stroke-width="1.4" '
            f'points="{coords}"><title>{escape(name)}</title></polyline>'
        )
    return parts


def _time_axis(horizon: float, bottom: int, width: int) -> list[str]:
    step: float
    if horizon < 3600:
        step = next((s for s in SHORT_STEPS if horizon / s <= 12), SHORT_STEPS[-1])
        unit, size = ("s", 1) if step < 60 else ("min", 60)
    else:
        hours = horizon / 3600
        step = 3600 * next((s for s in HOUR_STEPS if hours / s <= 12), HOUR_STEPS[-1])
        unit, size = "h", 3600
    parts = []
    k = 0
    while k * step <= horizon + 1e-6:
        x = LEFT + width * k * step / horizon
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#999"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">'
            f"{k * step / size:g} {unit}</text>"
        )
        k += 1
    return parts


def _nice(peak: float) -> float:
    """A round axis maximum at or above the peak (at least 1)."""
    if peak <= 1:
        return 1.0
    magnitude = 10 ** (len(str(int(peak))) - 1)
    for m in (1, 2, 4, 5, 8, 10):  # quarters of these are round numbers
        if m * magnitude >= peak:
            return float(m * magnitude)
    return float(10 * magnitude)


def _color(name: str, i: int) -> str:
    return COLORS.get(name, _FALLBACK[i % len(_FALLBACK)])


def _cost(pod_seconds: float) -> str:
    """Pod-hours, but under one in pod-seconds (a short replay cost `0 pod-hours`)."""
    if pod_seconds < 3600:
        return f"{pod_seconds:,.0f} pod-seconds"
    return f"{pod_seconds / 3600:,.0f} pod-hours"


def _seconds(value: object) -> str:
    return "-" if value is None else f"{value:,.1f} s"
