"""A workload trace: JSON lines, one task each, `{"t": s, "pool": name, "work_s": s, "tokens": n}`.

`t` is the arrival time in seconds from the start of the trace (virtual midnight, UTC day 0),
`work_s` the time one replica slot works on the task, `tokens` what the task costs its tenant
(the tenant follows from the pool). Tasks are kept as columns, sorted by arrival (stable, so
tasks arriving together keep their file order): a million tasks are four lists, not a million
objects.

A bad line raises ConfigError naming the file, the line and the field, and what was expected.
Every number is finite and bounded: arrivals within MAX_TRACE_SECONDS (31 days: the backtest
runs in virtual time, but a tick at a time), work within a day, tokens within MAX_COUNT.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from controller.config import DAY, MAX_COUNT, Config, ConfigError
from controller.config_errors import shown

FIELDS = ("t", "pool", "work_s", "tokens")
MAX_TRACE_SECONDS = 31 * DAY
"""A month replays in seconds; a t of 1e9 would replay for an hour."""


@dataclass(frozen=True, slots=True)
class Trace:
    """Tasks in arrival order; `pool` holds indexes into `pools` (the config's pool order)."""

    pools: tuple[str, ...]
    t: list[float]
    pool: list[int]
    work_s: list[float]
    tokens: list[int]

    def __len__(self) -> int:
        return len(self.t)

    @property
    def duration(self) -> float:
        """Time of the last arrival (0 for an empty trace)."""
        return self.t[-1] if self.t else 0.0

    @classmethod
    def build(cls, pools: Iterable[str], tasks: Iterable[tuple[float, int, float, int]]) -> Trace:
        """From (t, pool index, work_s, tokens) in any order."""
        rows = sorted(tasks, key=itemgetter(0))
        return cls(
            tuple(pools),
            [row[0] for row in rows],
            [row[1] for row in rows],
            [row[2] for row in rows],
            [row[3] for row in rows],
        )

    def rows(self) -> Iterator[dict[str, Any]]:
        names = self.pools
        for t, p, work, tokens in zip(self.t, self.pool, self.work_s, self.tokens, strict=True):
            yield {"t": t, "pool": names[p], "work_s": work, "tokens": tokens}


def write_trace(trace: Trace, out: IO[str]) -> None:
    for row in trace.rows():
        out.write(json.dumps(row, separators=(", ", ": ")))
        out.write("\n")


def parse_trace(lines: Iterable[str], config: Config, source: str = "<trace>") -> Trace:
    lines = list(lines)
    index = {name: i for i, name in enumerate(config.pools)}
    tasks = _parse_all(lines, index)
    if tasks is None:  # some line is not a plain task: find it, and say what is wrong
        tasks = [
            _task(line, number, index, source)
            for number, line in enumerate(lines, start=1)
            if line.strip()
        ]
    return Trace.build(config.pools, tasks)


def _parse_all(
    lines: list[str], index: dict[str, int]
) -> list[tuple[float, int, float, int]] | None:
    """Every line as one JSON array, parsed at C speed (a million lines in about a second,
    not three); None unless each non-blank line is one object `{...}` that is a valid task,
    so that this accepts exactly what `_task` line by line accepts."""
    objects = [line for line in lines if line.strip()]
    if not all(line.lstrip()[0] == "{" and line.rstrip()[-1] == "}" for line in objects):
        return None
    try:
        rows = json.loads("[" + ",".join(objects) + "]")
    except ValueError:
        return None
    if len(rows) != len(objects):
        return None
    tasks = []
    for row in rows:
        try:
            t, pool, work, tokens = row["t"], index[row["pool"]], row["work_s"], row["tokens"]
        except (KeyError, TypeError):
            return None
        if not (
            len(row) == 4
            and (type(t) is float or type(t) is int)
            and 0 <= t <= MAX_TRACE_SECONDS
            and (type(work) is float or type(work) is int)
            and 0 < work <= DAY
            and type(tokens) is int
            and 0 <= tokens <= MAX_COUNT
        ):
            return None
        tasks.append((float(t), pool, float(work), tokens))
    return tasks


def load_trace(path: Path | str, config: Config) -> Trace:
    source = str(path)
    try:
        with Path(path).open(encoding="utf-8") as lines:
            return parse_trace(lines, config, source)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "", f"expected UTF-8 text: {exc.reason}") from None


def _task(
    line: str, number: int, index: dict[str, int], source: str
) -> tuple[float, int, float, int]:
    where = f"line {number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, where, f"expected a JSON object: {exc.msg}") from None
    except ValueError:  # Python parses integers of at most 4300 digits
        raise ConfigError(source, where, "expected numbers of at most 4300 digits") from None
    except RecursionError:
        raise ConfigError(source, where, f"expected a JSON object like {_EXAMPLE}") from None
    if not isinstance(row, dict):
        raise ConfigError(source, where, f"expected a JSON object like {_EXAMPLE}")
    for key in row:
        if key not in FIELDS:
            raise ConfigError(source, f"{where}: {key}", f"unknown key (expected {_KEYS})")
    for key in FIELDS:
        if key not in row:
            raise ConfigError(source, f"{where}: {key}", "required field is missing")
    pool = row["pool"]
    if not isinstance(pool, str) or pool not in index:
        names = ", ".join(index)
        raise ConfigError(
            source,
            f"{where}: pool",
            f"expected one of the config's pools ({names}), got {shown(pool)}",
        )
    t = _number(row["t"], f"{where}: t", source, MAX_TRACE_SECONDS, positive=False)
    work = _number(row["work_s"], f"{where}: work_s", source, DAY, positive=True)
    tokens = row["tokens"]
    if type(tokens) is not int or tokens < 0:
        raise ConfigError(
            source, f"{where}: tokens", f"expected an integer >= 0, got {shown(tokens)}"
        )
    if tokens > MAX_COUNT:
        raise ConfigError(
            source, f"{where}: tokens", f"expected at most {MAX_COUNT:g}, got {tokens}"
        )
    return t, index[pool], work, tokens


def _number(value: Any, path: str, source: str, high: float, *, positive: bool) -> float:
    # bool is an int in Python, but `true` is no time; an int may be too large for isfinite.
    if (
        type(value) not in (int, float)
        or (type(value) is float and not math.isfinite(value))
        or value < 0
        or (positive and value == 0)
    ):
        expected = "> 0" if positive else ">= 0"
        raise ConfigError(source, path, f"expected a number {expected}, got {shown(value)}")
    if value > high:
        raise ConfigError(source, path, f"expected a number <= {high:.15g}, got {shown(value)}")
    return float(value)


_EXAMPLE = '{"t": 12.5, "pool": "acme-research", "work_s": 40, "tokens": 3000}'
_KEYS = ", ".join(FIELDS)
