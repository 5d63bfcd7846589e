"""Workloads built from real LLM request traces: the Azure LLM inference trace 2023 (CC-BY 4.0,
shipped in benchmarks/traces/ with its source and citation), one hour of a code assistant
(bursty: bursts of hundreds of requests a minute, then quiet minutes) and one hour of a
conversation service (steady, 190 to 510 requests a minute).

A request's work is what a worker waits for the model: its context tokens at PREFILL_TOKENS_PER_S
plus its generated tokens at DECODE_TOKENS_PER_S (work_s = context / 1,000 + generated / 25,
at least 10 ms), and it costs its tenant context + generated tokens. Arrival times are the
trace's, counted from its first request (virtual midnight UTC, as every backtest's day 0).

Each workload has six pools, two per tenant, one tenant a tier (enterprise, growth, starter),
every pool on the default `behavior` and cooldown. The seed chooses each pool's share of the
requests (weights uniform in 0.5..2, each request drawn to a pool by them: the same bursts
reach every pool, in different sizes) and small jitters: each arrival moves by up to 0.25 s,
each work by up to 10%. A pod works on one code request at a time, on two conversation requests
at once, on one session at a time; pools go up to 30 replicas (50 for sessions) in a cluster of
200 pods (300). The variants, for the code trace and for the conversation trace:

- `*_requests`: each LLM request one task.
- `*_sessions`: agent sessions. The trace has no user, so a session is made per pool: a request
  joins the pool's open session when it comes within the pool's gap (seeded, 2..5 s) of that
  session's last request and the session has fewer requests than its length (seeded, 3..12);
  otherwise it opens a new one. A session is one task, arriving with its first request, its
  work the sum of its requests' (an agent makes its calls one after another), its tokens theirs.
- `*_day`: a day of the hour tiled 24 times, each hour rotated by a seeded offset
  and thinned to a diurnal curve (kept with probability 0.2 at night to 1 at a seeded peak
  hour, 13:00-16:00 UTC). Except globex (growth), whose traffic falls early in the UTC day
  (a half-sine from a seeded start, 00:00-01:00, lasting 8-10 h, nothing after): its
  daily_token_budget is what its day asks for over 0.85 (it fits with 15% to spare; hard_cap
  true, the default; warn_at 0.8, the default, is passed near the end of its traffic).
- `azure_conv_tight`: the conversation hour with the cluster's max_pods near the mean need
  (the mean busy slots over the hour over the concurrency, times a seeded 1.0..1.1): the cap
  binds in the busier half hour, and the tiers contend for it.

Scale < 1 keeps the first part of each hour (or day), for quick runs. Build these through the
policy suite (`python benchmarks/policy_suite.py --only azure_code_requests`), which judges
them as its synthetic shapes. `load_requests` reads one trace file; a bad row is one line
naming the file, the line, the field and what was expected.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from workload_makings import HOUR, THREE, Draft, Row, fleet, pools

from controller.core.config import ConfigError
from controller.core.config_errors import shown

TRACES = Path(__file__).parent / "traces"
AZURE = {
    "code": TRACES / "AzureLLMInferenceTrace_code.csv",
    "conv": TRACES / "AzureLLMInferenceTrace_conv.csv",
}
HEADER = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]
PREFILL_TOKENS_PER_S = 1_000.0
"""Context tokens read a second: a 2,000-token prompt waits 2 s for its first token."""
DECODE_TOKENS_PER_S = 25.0
"""Generated tokens a second, one request's stream."""
DAY = 24 * HOUR
KINDS = {"code": ("complete", "review"), "conv": ("chat", "support")}
"""Each tenant's two pools, by trace."""


@dataclass(frozen=True, slots=True)
class Request:
    """One LLM request of a trace: when it came (seconds from the trace's first) and its size."""

    t: float
    context: int
    generated: int

    @property
    def work_s(self) -> float:
        return max(0.01, self.context / PREFILL_TOKENS_PER_S + self.generated / DECODE_TOKENS_PER_S)

    @property
    def tokens(self) -> int:
        return self.context + self.generated


# --- reading ---------------------------------------------------------------------------------


@cache
def load_requests(path: Path) -> tuple[Request, ...]:
    """The requests of an Azure trace CSV (TIMESTAMP, ContextTokens, GeneratedTokens), in
    arrival order. Raises ConfigError (`file:line: field: expected ...`) on a bad row."""
    source = str(path)
    try:
        with path.open(newline="", encoding="utf-8") as file:
            lines = list(csv.reader(file))
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    if not lines or lines[0] != HEADER:
        raise ConfigError(source, "", f"expected the header {','.join(HEADER)}", line=1)
    stamps, sizes = [], []
    for number, row in enumerate(lines[1:], start=2):
        if len(row) != len(HEADER):
            raise ConfigError(source, "", f"expected 3 fields, got {len(row)}", line=number)
        stamps.append(_timestamp(row[0], source, number))
        sizes.append((_count(row, 1, source, number), _count(row, 2, source, number)))
    if not stamps:
        raise ConfigError(source, "", "expected at least one request", line=2)
    first = min(stamps)
    requests = [
        Request(t=(stamp - first).total_seconds(), context=context, generated=generated)
        for stamp, (context, generated) in zip(stamps, sizes, strict=True)
    ]
    return tuple(sorted(requests, key=lambda r: r.t))


def _timestamp(text: str, source: str, line: int) -> datetime:
    try:  # the trace gives 7 decimals; datetime reads 6
        whole, _, fraction = text.partition(".")
        stamp = datetime.fromisoformat(whole)
        return stamp.replace(microsecond=int(f"{fraction:0<6}"[:6])) if fraction else stamp
    except ValueError:
        expected = "a time like 2023-11-16 18:17:03.9799600"
        raise ConfigError(source, "TIMESTAMP", f"expected {expected}, got {shown(text)}",
                          line) from None  # fmt: skip


def _count(row: list[str], column: int, source: str, line: int) -> int:
    text = row[column]
    if not text.isdigit() or len(text) > 9:
        expected = "a whole number of tokens, 0 to 999,999,999"
        raise ConfigError(source, HEADER[column], f"expected {expected}, got {shown(text)}", line)
    return int(text)


def azure(kind: str, scale: float) -> list[Request]:
    """The first `scale` of the Azure `kind` hour (code or conv)."""
    return [r for r in load_requests(AZURE[kind]) if r.t < HOUR * scale]


# --- from requests to tasks ------------------------------------------------------------------


def split(
    rng: random.Random, requests: list[Request], names: list[str]
) -> dict[str, list[Request]]:
    """Each request drawn to one pool, by seeded weights (0.5..2 each)."""
    weights = [rng.uniform(0.5, 2.0) for _ in names]
    shares: dict[str, list[Request]] = {name: [] for name in names}
    for request, name in zip(requests, rng.choices(names, weights, k=len(requests)), strict=True):
        shares[name].append(request)
    return shares


def one_task(rng: random.Random, pool: str, t: float, work: float, tokens: int) -> Row:
    """A task with the seeded jitters: arrival within 0.25 s, work within 10%."""
    arrival = max(0.0, t + rng.uniform(-0.25, 0.25))
    return (round(arrival, 3), pool, round(max(0.01, work * rng.uniform(0.9, 1.1)), 2), tokens)


def each_request(rng: random.Random, pool: str, requests: list[Request]) -> list[Row]:
    return [one_task(rng, pool, r.t, r.work_s, r.tokens) for r in requests]


def sessions(rng: random.Random, pool: str, requests: list[Request]) -> list[Row]:
    """Runs of requests, one task each (the module's docstring gives the rule)."""
    gap = rng.uniform(2.0, 5.0)
    runs: list[list[Request]] = []
    length = 0
    for request in requests:
        if runs and len(runs[-1]) < length and request.t - runs[-1][-1].t <= gap:
            runs[-1].append(request)
        else:
            runs.append([request])
            length = rng.randint(3, 12)
    return [
        one_task(rng, pool, run[0].t, sum(r.work_s for r in run), sum(r.tokens for r in run))
        for run in runs
    ]


def tiled_day(rng: random.Random, hour: list[Request], end: float) -> list[Request]:
    """The hour repeated until `end`, each copy rotated by a seeded offset within the hour."""
    day = []
    for start in range(0, math.ceil(end / HOUR)):
        offset = rng.uniform(0, HOUR)
        for r in hour:
            t = start * HOUR + (r.t + offset) % HOUR
            if t < end:
                day.append(Request(t=t, context=r.context, generated=r.generated))
    return sorted(day, key=lambda r: r.t)


def thinned(
    rng: random.Random, requests: list[Request], keep: Callable[[float], float]
) -> list[Request]:
    """The requests kept with probability keep(t)."""
    return [r for r in requests if rng.random() < keep(r.t)]


# --- the variants: each builds a Draft from the requests of an hour --------------------------


def _fleet(kinds: tuple[str, ...], max_pods: int, **spec: int) -> dict[str, Any]:
    return fleet(THREE, pools(THREE, kinds, **spec), max_pods)


def requests_workload(rng: random.Random, requests: list[Request], kinds: tuple[str, ...],
                      concurrency: int, about: str) -> Draft:  # fmt: skip
    """Each request one task, on six pools sharing a roomy cluster."""
    data = _fleet(kinds, 200, max_replicas=30, concurrency=concurrency)
    draft = Draft(about, data)
    for name, share in split(rng, requests, list(data["pools"])).items():
        draft.rows += each_request(rng, name, share)
    return draft


def sessions_workload(rng: random.Random, requests: list[Request], kinds: tuple[str, ...],
                      about: str) -> Draft:  # fmt: skip
    """Agent sessions, one a worker at a time, on six pools sharing a roomy cluster."""
    data = _fleet(kinds, 300, max_replicas=50)
    draft = Draft(about, data)
    for name, share in split(rng, requests, list(data["pools"])).items():
        draft.rows += sessions(rng, name, share)
    return draft


def budget_day(rng: random.Random, hour: list[Request], kinds: tuple[str, ...], end: float,
               concurrency: int, about: str) -> Draft:  # fmt: skip
    """The hour tiled over a day, diurnal; globex's traffic early in the UTC day only, its
    budget its day's tokens over 0.85."""
    data = _fleet(kinds, 200, max_replicas=30, concurrency=concurrency)
    draft = Draft(about, data)
    peak, start, length = rng.uniform(13, 16) * HOUR, rng.uniform(0, 1) * HOUR, rng.uniform(8, 10)
    length *= HOUR

    def diurnal(t: float) -> float:
        return 0.6 + 0.4 * math.cos(2 * math.pi * (t - peak) / DAY)

    def early(t: float) -> float:
        return math.sin(math.pi * (t - start) / length) if start <= t < start + length else 0.0

    shares = split(rng, tiled_day(rng, hour, end), list(data["pools"]))
    for name, share in shares.items():
        keep = early if name.startswith("globex") else diurnal
        draft.rows += each_request(rng, name, thinned(rng, share, keep))
    asked = sum(tokens for _, name, _, tokens in draft.rows if name.startswith("globex"))
    data["tenants"]["globex"].update(daily_token_budget=max(1, round(asked / 0.85)), hard_cap=True)
    return draft


def tight_workload(rng: random.Random, requests: list[Request], kinds: tuple[str, ...],
                   concurrency: int, about: str) -> Draft:  # fmt: skip
    """Each request one task; the cluster's max_pods near the mean need."""
    draft = requests_workload(rng, requests, kinds, concurrency, about)
    span = max(r.t for r in requests) - min(r.t for r in requests)
    need = sum(work for _, _, work, _ in draft.rows) / max(span, 1.0) / concurrency
    draft.data["cluster"]["max_pods"] = max(1, round(need * rng.uniform(1.0, 1.1)))
    return draft


# --- the workloads the suite runs ------------------------------------------------------------


def azure_code_requests(rng: random.Random, scale: float) -> Draft:
    about = "Azure code hour (bursty), each LLM request one task, 1 a pod"
    return requests_workload(rng, azure("code", scale), KINDS["code"], 1, about)


def azure_conv_requests(rng: random.Random, scale: float) -> Draft:
    about = "Azure conversation hour (steady), each LLM request one task, 2 at once a pod"
    return requests_workload(rng, azure("conv", scale), KINDS["conv"], 2, about)


def azure_code_sessions(rng: random.Random, scale: float) -> Draft:
    about = "Azure code hour, runs of 3-12 requests within 2-5 s of each other as agent sessions"
    return sessions_workload(rng, azure("code", scale), KINDS["code"], about)


def azure_conv_sessions(rng: random.Random, scale: float) -> Draft:
    about = "Azure conversation hour, runs of 3-12 requests as agent sessions"
    return sessions_workload(rng, azure("conv", scale), KINDS["conv"], about)


def azure_code_day(rng: random.Random, scale: float) -> Draft:
    about = ("the Azure code hour tiled over a day, diurnal, 1 a pod; globex's traffic early in "
             "the UTC day, its daily budget fitting with 15% to spare (hard cap)")  # fmt: skip
    return budget_day(rng, azure("code", 1.0), KINDS["code"], DAY * scale, 1, about)


def azure_conv_day(rng: random.Random, scale: float) -> Draft:
    about = ("the Azure conversation hour tiled over a day, diurnal, 2 at once a pod; globex's "
             "traffic early in the UTC day, its daily budget fitting with 15% to spare (hard "
             "cap)")  # fmt: skip
    return budget_day(rng, azure("conv", 1.0), KINDS["conv"], DAY * scale, 2, about)


def azure_conv_tight(rng: random.Random, scale: float) -> Draft:
    about = "Azure conversation hour, each request one task, the cluster's max_pods ~ mean need"
    return tight_workload(rng, azure("conv", scale), KINDS["conv"], 2, about)


REAL: dict[str, Callable[[random.Random, float], Draft]] = {
    shape.__name__: shape
    for shape in (azure_code_requests, azure_conv_requests, azure_code_sessions,
                  azure_conv_sessions, azure_code_day, azure_conv_day, azure_conv_tight)
}  # fmt: skip
"""The real-trace workloads, by name, as the suite's SHAPES."""
