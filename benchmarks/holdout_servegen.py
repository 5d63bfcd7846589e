"""agentdash against KEDA and the HPA on HELD-OUT real traffic: days of real LLM API clients.

This is a measurement only. Do not look at its results to pick a rule, a constant or a default,
and do not change a workload here to make a result better: once that happens it is no longer
held out, and new held-out traffic is needed. Develop and tune on benchmarks/policy_suite.py.

The data: Alibaba's ServeGen (alibaba/ServeGen, data/language/, at commit
f891d1189eb32b3868dfc443800c4150548c282a; Apache License 2.0), the characterization of
Alibaba Cloud Model Studio's production LLM traffic (Xiang et al., "ServeGen", arXiv
2505.09999). Each client of a model (m-large, m-mid, m-small) has 14 days in 10-minute windows:
per window its request rate, and the fit of its inter-arrival times (Gamma or Weibull, shape and
scale); every 6 hours, the distributions of its input and output tokens. So a client's day here
has its real diurnal and weekly shape, its real on and off periods (many clients are idle for
hours, then busy) and its real burstiness; only the arrivals within a window are drawn. It is
NOT shipped in the repository, to keep it out of sight while rules are tuned: it is read from
/work/data/servegen/MODEL/chunk-ID-{trace.csv,dataset.json} (or `--data DIR`), as the
repository lays it out.

A workload: six pools, two per tenant, one tenant a tier, every pool on the defaults, as
benchmarks/real_traces.py's. The seed picks a day of the 14 and, for each pool, a client of the
model that has a token profile and traffic in at least 6 windows of that day. In each window,
`round(rate x 600)` arrivals are drawn from the window's fit and spread over it as ServeGen's
own generator does (the draws scaled to fill the window), each with input and output tokens
drawn from the client's latest profile; a request is one task of work context / 1,000 +
generated / 25 seconds (as the Azure workloads). Each client's rate is scaled so that its day
asks for a seeded 1..6 busy replicas on average, its busiest window at most 25 (pools go up
to 30), and at most 40,000 requests (a client of tiny, frequent requests is slowed to that).
The variants:

- `servegen_large_day`, `servegen_mid_day`: m-large or m-mid clients, a day, 2 at once a pod.
- `servegen_small_sessions`: m-small clients, runs of a pool's requests as agent sessions
  (real_traces' gap rule), 1 at once a pod, up to 50 a pool.
- `servegen_large_budget`: as `servegen_large_day`, and globex's daily_token_budget is what
  its day asks for over 0.85 (it fits with 15% to spare; hard cap), whenever its traffic comes.
- `servegen_mid_tight`: as `servegen_mid_day`, the cluster's max_pods near the day's mean need
  (times a seeded 1.0..1.1): the cap binds through the busy hours, the tiers contend for it.

    python benchmarks/holdout_servegen.py [--seeds 20,21] [--only NAME[,NAME]] [--data DIR]
"""

from __future__ import annotations

import argparse
import ast
import bisect
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from unittest.mock import patch

import policy_suite as suite
from real_traces import Request, each_request, sessions
from suite_summary import summarize
from workload_makings import THREE, Draft, fleet, pools

from controller.core.config import ConfigError

DATA = Path("/work/data/servegen")
WINDOW_S = 600
DAY_WINDOWS = 144
DAYS = 14
KINDS = ("chat", "assist")
PEAK_REPLICAS = 25.0
MAX_REQUESTS = 40_000
"""A pool's requests a day at most: a client of tiny, frequent requests is slowed to it."""
source = {"data": DATA}
"""Where the data is read from (`--data` changes it)."""


@dataclass(frozen=True, slots=True)
class Window:
    """One client's 10 minutes: its rate and the fit of its inter-arrival times."""

    rate: float
    pattern: str
    shape: float
    scale: float


@dataclass(frozen=True, slots=True)
class Tokens:
    """A client's token profile from one time on: values and their cumulative weights."""

    inputs: tuple[tuple[int, ...], tuple[float, ...]]
    outputs: tuple[tuple[int, ...], tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    windows: tuple[Window, ...]
    profiles: tuple[tuple[int, Tokens], ...]
    """(from when, the token profile), in time order."""

    def tokens_at(self, t: float) -> Tokens:
        starts = [start for start, _ in self.profiles]
        return self.profiles[max(0, bisect.bisect_right(starts, t) - 1)][1]


@cache
def clients(model: str) -> tuple[Client, ...]:
    """The model's clients that have a token profile. Raises ConfigError on a bad file."""
    folder = source["data"] / model
    found = []
    for trace in sorted(folder.glob("chunk-*-trace.csv")):
        profile = trace.with_name(trace.name.replace("-trace.csv", "-dataset.json"))
        if profile.exists():
            found.append(_client(trace, profile))
    if not found:
        raise ConfigError(str(folder), "", "expected ServeGen's chunk-ID-trace.csv files")
    return tuple(found)


def _client(trace: Path, profile: Path) -> Client:
    windows = []
    for number, line in enumerate(trace.read_text().splitlines(), start=1):
        fields = line.split(",")
        try:
            rate = float(fields[1])
            shape, scale = (float(fields[4]), float(fields[5])) if fields[3] else (0.0, 0.0)
        except (IndexError, ValueError):
            message = "expected ts,rate,cv,pattern,shape,scale"
            raise ConfigError(str(trace), "", message, number) from None
        windows.append(Window(rate=rate, pattern=fields[3], shape=shape, scale=scale))
    profiles = []
    for start, fields in sorted(
        (int(k), v) for k, v in _json(profile).items() if k.lstrip("-").isdigit()
    ):
        inputs, outputs = _pdf(fields.get("input_tokens")), _pdf(fields.get("output_tokens"))
        if inputs[0] and outputs[0]:
            profiles.append((start, Tokens(inputs=inputs, outputs=outputs)))
    if not profiles:
        raise ConfigError(str(profile), "", "expected at least one token profile")
    return Client(name=trace.name.split("-")[1], windows=tuple(windows), profiles=tuple(profiles))


def _json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "expected a JSON object")
    return data


def _pdf(text: object) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """ServeGen writes a pdf as a Python dict literal {tokens: weight}: read as a literal."""
    if not isinstance(text, str):
        return (), ()
    pdf = ast.literal_eval(text)
    values = tuple(int(k) for k in pdf)
    cumulative, total = [], 0.0
    for k in pdf:
        total += float(pdf[k])
        cumulative.append(total)
    return values, tuple(cumulative)


def _draw(rng: random.Random, pdf: tuple[tuple[int, ...], tuple[float, ...]]) -> int:
    values, cumulative = pdf
    k = bisect.bisect_left(cumulative, rng.random() * cumulative[-1])
    return values[min(len(values) - 1, k)]


def client_day(rng: random.Random, client: Client, day: int, factor: float) -> list[Request]:
    """The client's requests over day `day`, its rates times `factor`."""
    requests = []
    for w in range(DAY_WINDOWS):
        window = client.windows[day * DAY_WINDOWS + w]
        n = round(window.rate * factor * WINDOW_S)
        if n == 0 or not window.pattern:
            continue
        gaps = [_gap(rng, window) for _ in range(n)]
        stretch = WINDOW_S / (sum(gaps) or 1.0)
        t = w * WINDOW_S
        tokens = client.tokens_at((day * DAY_WINDOWS + w) * WINDOW_S)
        for gap in gaps:
            t += gap * stretch
            requests.append(
                Request(t=min(t, (w + 1) * WINDOW_S - 1e-3), context=_draw(rng, tokens.inputs),
                        generated=_draw(rng, tokens.outputs))
            )  # fmt: skip
    return requests


def _gap(rng: random.Random, window: Window) -> float:
    if window.pattern == "Gamma":
        return rng.gammavariate(window.shape, window.scale)
    return rng.weibullvariate(window.scale, window.shape)


def _mean_work(rng: random.Random, client: Client) -> float:
    sizes = [
        Request(t=0, context=_draw(rng, p.inputs), generated=_draw(rng, p.outputs)).work_s
        for _, p in client.profiles
        for _ in range(50)
    ]
    return sum(sizes) / len(sizes)


def pool_requests(
    rng: random.Random, model: str, names: list[str], concurrency: int, scale: float
) -> dict[str, list[Request]]:
    """For each pool, a client's day (the module's docstring gives the rule)."""
    day = rng.randrange(DAYS)
    span = range(day * DAY_WINDOWS, (day + 1) * DAY_WINDOWS)
    able = [c for c in clients(model) if sum(c.windows[i].rate > 0 for i in span) >= 6]
    chosen = rng.sample(able, len(names))
    shares = {}
    for name, client in zip(names, chosen, strict=True):
        rates = [client.windows[i].rate for i in span]
        work = _mean_work(rng, client)
        mean_busy = sum(rates) / len(rates) * work / concurrency
        factor = rng.uniform(1.0, 6.0) / mean_busy
        factor = min(factor, PEAK_REPLICAS / (max(rates) * work / concurrency))
        factor = min(factor, MAX_REQUESTS / (sum(rates) * WINDOW_S))
        day_requests = client_day(rng, client, day, factor)
        shares[name] = [r for r in day_requests if r.t < DAY_WINDOWS * WINDOW_S * scale]
    return shares


def _day(rng: random.Random, model: str, scale: float, about: str, concurrency: int = 2,
         **spec: int) -> Draft:  # fmt: skip
    data = fleet(THREE, pools(THREE, KINDS, max_replicas=30, concurrency=concurrency, **spec), 200)
    draft = Draft(about, data)
    for name, share in pool_requests(rng, model, list(data["pools"]), concurrency, scale).items():
        draft.rows += each_request(rng, name, share)
    return draft


def servegen_large_day(rng: random.Random, scale: float) -> Draft:
    return _day(rng, "m-large", scale, "ServeGen m-large clients' day (held out), 2 at once a pod")


def servegen_mid_day(rng: random.Random, scale: float) -> Draft:
    return _day(rng, "m-mid", scale, "ServeGen m-mid clients' day (held out), 2 at once a pod")


def servegen_small_sessions(rng: random.Random, scale: float) -> Draft:
    about = "ServeGen m-small clients' day (held out), runs of requests as agent sessions"
    data = fleet(THREE, pools(THREE, KINDS, max_replicas=50, concurrency=1), 300)
    draft = Draft(about, data)
    for name, share in pool_requests(rng, "m-small", list(data["pools"]), 1, scale).items():
        draft.rows += sessions(rng, name, share)
    return draft


def servegen_large_budget(rng: random.Random, scale: float) -> Draft:
    about = "ServeGen m-large clients' day (held out); globex's budget fits with 15% to spare"
    draft = servegen_large_day(rng, scale)
    draft.about = about
    asked = sum(tokens for _, name, _, tokens in draft.rows if name.startswith("globex"))
    draft.data["tenants"]["globex"].update(
        daily_token_budget=max(1, round(asked / 0.85)), hard_cap=True
    )
    return draft


def servegen_mid_tight(rng: random.Random, scale: float) -> Draft:
    draft = servegen_mid_day(rng, scale)
    draft.about = "ServeGen m-mid clients' day (held out), the cluster's max_pods ~ mean need"
    span = max(t for t, _, _, _ in draft.rows) - min(t for t, _, _, _ in draft.rows)
    need = sum(work for _, _, work, _ in draft.rows) / max(span, 1.0) / 2
    draft.data["cluster"]["max_pods"] = max(1, round(need * rng.uniform(1.0, 1.1)))
    return draft


HOLDOUT: dict[str, Callable[[random.Random, float], Draft]] = {
    shape.__name__: shape
    for shape in (servegen_large_day, servegen_mid_day, servegen_small_sessions,
                  servegen_large_budget, servegen_mid_tight)
}  # fmt: skip
assert not HOLDOUT.keys() & suite.SHAPES.keys(), "a held-out workload has a suite shape's name"


def run_held_out(name: str, seed: int, scale: float = 1.0) -> dict[str, Any]:
    with patch.dict(suite.SHAPES, HOLDOUT, clear=True):
        return suite.run_workload(name, seed, scale=scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", default="20", help="default 20; several: 20,21")
    parser.add_argument("--only", help=f"some of {','.join(HOLDOUT)}")
    parser.add_argument("--scale", type=float, default=1.0, help="keep this part of the day")
    parser.add_argument("--json", action="store_true", help="one JSON row a workload")
    parser.add_argument("--data", type=Path, default=DATA, help=f"the data's folder ({DATA})")
    args = parser.parse_args(argv)
    source["data"] = args.data
    names = args.only.split(",") if args.only else list(HOLDOUT)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    start, rows = time.perf_counter(), []
    for seed in seeds:
        for name in names:
            try:
                row = run_held_out(name, seed, args.scale)
            except ConfigError as exc:
                print(exc, file=sys.stderr)
                return 2
            rows.append(row)
            print(json.dumps(row) if args.json else suite.table(row) + "\n", flush=True)
    print("\n".join(summarize(rows, real=HOLDOUT).lines()))
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
