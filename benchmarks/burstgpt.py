"""agentdash against KEDA and the HPA on a week of BurstGPT: real LLM service traffic, sparse.

BurstGPT (HPMLL/BurstGPT; Wang et al., "BurstGPT: A Real-world Workload Dataset to Optimize LLM
Serving Systems", arXiv 2401.17644; CC-BY 4.0) logs the requests of a regional Azure OpenAI GPT
service: per request its time, model (ChatGPT or GPT-4), request and response tokens, and
whether it came from a conversation or through the API. The official repository keeps its CSVs
in Git LFS; the file read here is the first 7 days of BurstGPT_1.csv (0 <= Timestamp < 604,800:
19,431 requests), as committed in AMD-Aljohani/dr-bgs-llm-routing at commit
aefa2abb3e46fb0201d18dfa5db5ef9218c67c51, trace_data/BurstGPT_first7days.csv (SHA-256
68130aef7579045f0e8cedefe9fccd288f2008c5821ff979d92c11995b14a1b6). It is NOT shipped: it is read
from /work/data/burstgpt/ (or `--data DIR`).

Development data: it was first measured by someone trying agentdash as a stranger, and the rule
that gives each tier its first replica under a short ceiling (controller.core.room) was found on
its `burstgpt_tight`. Judge new rules on traffic not in here.

A request is a task: its arrival the trace's Timestamp (seconds from the first day's midnight;
BurstGPT's are local time, read as UTC), its work prompt / 5,000 + response / 50 seconds (at
least 0.5 s, at most 600 s), its tokens the total. Four pools, every one on the defaults
(min_replicas 0, a 20 s cold start): GPT-4 conversations (acme, enterprise, target lag 1),
API requests of either model (acme, enterprise, 2 at once a pod), and ChatGPT conversations
split in two by an MD5 of the request's row (globex, growth; initech, starter). One provider,
1,200 requests a minute, 12 a replica. The workloads (the seed picks the day, seed mod 7):

- `burstgpt_day`: one real day, about 3,400 requests, mostly minutes apart in each pool.
- `burstgpt_week`: the 7 days laid onto one (each request at its time of day): 7 times the load.
- `burstgpt_tight`: the week's day in a cluster of 3 pods, fewer than the pools.
(The three week workloads are the same on every seed.)
- `burstgpt_budget`: the week's day, each tenant's hard-capped daily_token_budget what its day
  asks for over 0.85 (it fits with 15% to spare).

    python benchmarks/burstgpt.py [--seeds 1,2] [--only NAME[,NAME]] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import random
import sys
import time
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any
from unittest.mock import patch

import policy_suite as suite
from suite_summary import summarize
from workload_makings import THREE, Draft, Row, fleet

from controller.core.config import ConfigError

DATA = Path("/work/data/burstgpt")
FILE = "BurstGPT_first7days.csv"
DAY = 86_400.0
DAYS = 7
source: dict[str, Path] = {"csv": DATA / FILE}
"""Where the trace is read from (`--data` changes it)."""
POOLS = {  # name: tenant, target lag, concurrency, max_replicas
    "gpt4-chat": ("acme", 1, 1, 10),
    "api": ("acme", 2, 2, 4),
    "chat-a": ("globex", 2, 1, 10),
    "chat-b": ("initech", 2, 1, 10),
}


@cache
def requests(path: Path) -> tuple[tuple[float, str, float, int], ...]:
    """Every request as (Timestamp, pool, work seconds, tokens); ConfigError if unreadable."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read file: {exc.strerror or exc}") from None
    made = []
    for number, row in enumerate(rows):
        try:
            prompt, response = int(row["Request tokens"]), int(row["Response tokens"])
            made.append((float(row["Timestamp"]), _pool(row, number), _work(prompt, response),
                         int(row["Total tokens"])))  # fmt: skip
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                str(path), f"line {number + 2}", f"expected a request: {exc}"
            ) from None
    return tuple(made)


def _pool(row: dict[str, str], number: int) -> str:
    if row["Log Type"] == "API log":
        return "api"
    if row["Model"] == "GPT-4":
        return "gpt4-chat"
    return "chat-a" if hashlib.md5(str(number).encode()).digest()[0] % 2 == 0 else "chat-b"


def _work(prompt: int, response: int) -> float:
    return round(min(600.0, max(0.5, prompt / 5_000 + response / 50)), 3)


def _fleet(max_pods: int = 40) -> dict[str, Any]:
    spec = {
        name: {"tenant": tenant, "target_lag_per_replica": lag, "concurrency": at_once,
               "max_replicas": most, "provider": "azure-openai", "rpm_per_replica": 12}
        for name, (tenant, lag, at_once, most) in POOLS.items()
    }  # fmt: skip
    return fleet(THREE, spec, max_pods, providers={"azure-openai": 1_200})


def _rows(days: range, folded: bool, scale: float) -> list[Row]:
    first = days.start * DAY
    rows = [
        (t % DAY if folded else t - first, pool, work, tokens)
        for t, pool, work, tokens in requests(source["csv"])
        if int(t // DAY) in days
    ]
    end = DAY * scale
    return sorted((row for row in rows if row[0] < end), key=lambda row: row[0])


def burstgpt_day(rng: random.Random, scale: float) -> Draft:
    day = rng.randrange(DAYS)
    draft = Draft(f"BurstGPT day {day}: a real day, sparse", _fleet())
    draft.rows = _rows(range(day, day + 1), False, scale)
    return draft


def burstgpt_week(rng: random.Random, scale: float) -> Draft:
    draft = Draft("BurstGPT's 7 days laid onto one: 7 times a day's load", _fleet())
    draft.rows = _rows(range(DAYS), True, scale)
    return draft


def burstgpt_tight(rng: random.Random, scale: float) -> Draft:
    draft = Draft("the week's day in a cluster of 3 pods, fewer than its 4 pools", _fleet(3))
    draft.rows = _rows(range(DAYS), True, scale)
    return draft


def burstgpt_budget(rng: random.Random, scale: float) -> Draft:
    draft = Draft(
        "the week's day, each tenant's day fitting its budget with 15% to spare", _fleet()
    )
    draft.rows = _rows(range(DAYS), True, scale)
    spent: dict[str, int] = defaultdict(int)
    for _, pool, _, tokens in draft.rows:
        spent[POOLS[pool][0]] += tokens
    for tenant, tokens in spent.items():
        draft.data["tenants"][tenant]["daily_token_budget"] = math.ceil(tokens / 0.85)
    return draft


WORKLOADS = {
    "burstgpt_day": burstgpt_day,
    "burstgpt_week": burstgpt_week,
    "burstgpt_tight": burstgpt_tight,
    "burstgpt_budget": burstgpt_budget,
}


def run(name: str, seed: int) -> dict[str, Any]:
    """One workload, built, run and judged as the suite's are."""
    with patch.dict(suite.SHAPES, WORKLOADS, clear=True):
        return suite.run_workload(name, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=suite._seeds, default=[1], help="default 1; several: 1,2")
    parser.add_argument(
        "--only", type=suite.names_in(WORKLOADS), help=f"some of {','.join(WORKLOADS)}"
    )
    parser.add_argument("--data", type=Path, default=DATA, help=f"the trace's folder ({DATA})")
    args = parser.parse_args(argv)
    source["csv"] = args.data / FILE
    start = time.perf_counter()
    rows = []
    for seed in args.seeds:
        for name in args.only or list(WORKLOADS):
            try:
                row = run(name, seed)
            except ConfigError as exc:
                print(exc, file=sys.stderr)
                return 2
            rows.append(row)
            print(suite.table(row) + "\n", flush=True)
    print("\n".join(summarize(rows, real=WORKLOADS).lines()))
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
