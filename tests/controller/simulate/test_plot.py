"""The SVG: a valid document with a line per policy in each panel."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from controller.core.config import load_config
from controller.simulate.backtest import backtest
from controller.simulate.generate import generate
from controller.simulate.plot import COLORS, svg
from controller.simulate.trace import MAX_TRACE_SECONDS
from tests.support.builders import trace
from tests.support.factories import config, pool

EXAMPLE = load_config(Path(__file__).parents[3] / "examples" / "agentdash.yaml")
NS = {"svg": "http://www.w3.org/2000/svg"}


def test_the_plot_draws_lag_and_pods_for_every_policy() -> None:
    result = backtest(EXAMPLE, generate(EXAMPLE, "spiky", 1, seed=2), samples=120)
    root = ET.fromstring(svg(result, "spiky <1 h>"))
    lines = root.findall("svg:polyline", NS)
    assert [line.get("stroke") for line in lines] == [*COLORS.values()] * 2  # two panels
    assert all(len(line.get("points", "").split()) == 121 for line in lines)
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "spiky <1 h>" in texts  # escaped in the file, intact once parsed
    assert "queue lag" in texts
    assert "pods (cost)" in texts
    for name in ("agentdash", "keda", "hpa"):
        assert f"{name}: p95 wait" in texts


def _texts(document: str) -> list[str]:
    root = ET.fromstring(document)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def _time_ticks(document: str) -> list[str]:
    return [text for text in _texts(document) if text.endswith((" h", " min", " s"))]


def test_a_trace_all_at_time_zero_with_no_drain_still_plots() -> None:
    cfg = config({"solo": pool("t")})
    result = backtest(cfg, trace(cfg, (0.0, "solo", 5.0, 10)), ("keda",), drain_s=0.0)
    assert result.horizon == 0.0
    assert _time_ticks(svg(result, "instant")) == ["0 s", "1 s"]  # an axis a second wide


def test_a_trace_shorter_than_an_hour_has_its_time_in_minutes_and_its_cost_in_seconds() -> None:
    """A 10-minute replay had one tick, "0 h", and cost "0 pod-hours" under every policy."""
    cfg = config({"solo": pool("t")})
    result = backtest(cfg, trace(cfg, (10.0, "solo", 5.0, 10)), ("keda",), drain_s=590.0)
    document = svg(result, "ten minutes")
    assert _time_ticks(document) == [f"{m} min" for m in range(0, 11)]
    assert any(text.endswith(", 300 pod-seconds") for text in _texts(document))
    seconds = backtest(cfg, trace(cfg, (10.0, "solo", 5.0, 10)), ("keda",), drain_s=50.0)
    assert _time_ticks(svg(seconds, "a minute")) == [f"{s} s" for s in range(0, 61, 5)]


def test_a_month_long_trace_and_its_drain_plot_with_weekly_ticks() -> None:
    cfg = config({"solo": pool("t")})
    month = MAX_TRACE_SECONDS
    result = backtest(
        cfg, trace(cfg, (month, "solo", 5.0, 10)), ("keda",), drain_s=month, samples=24
    )
    ticks = _time_ticks(svg(result, "two months"))
    assert ticks[:3] == ["0 h", "168 h", "336 h"]
    assert len(ticks) <= 12
