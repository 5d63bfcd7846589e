"""A workload trace: JSON lines, one task each, `{"t": s, "pool": name, "work_s": s, "tokens": n}`.

`t` is the arrival time in seconds from the start of the trace (virtual midnight, UTC day 0),
`work_s` the time one replica slot works on the task, `tokens` what the task costs its tenant
(the tenant follows from the pool). Tasks are kept as columns, sorted by arrival (stable, so
tasks arriving together keep their file order): a million tasks are four arrays of machine
numbers, 28 bytes a task, not a million objects.

The file is read as a stream, a chunk of lines at a time, straight into those columns: loading
holds the columns and one chunk, never the file's lines or a dict a task. A file in time order
(the common case) is not sorted at all.

A bad line raises ConfigError naming the file, the line and the field, and what was expected.
Every number is finite and bounded: arrivals within MAX_TRACE_SECONDS (31 days: the backtest
runs in virtual time, but a tick at a time), work within a day, tokens within MAX_COUNT.
"""

from __future__ import annotations

import json
import math
import os
import stat
from array import array
from collections.abc import Iterable, Iterator, MutableSequence
from dataclasses import dataclass
from itertools import islice
from operator import le
from pathlib import Path
from typing import IO, Any

from controller.core.config import Config, ConfigError
from controller.core.config_errors import TooLarge, listed, shown
from controller.core.config_errors import key as field
from controller.core.config_types import DAY, MAX_COUNT
from controller.core.input_files import decode, load_json_line

FIELDS = ("t", "pool", "work_s", "tokens")
MAX_TRACE_SECONDS = 31 * DAY
"""A month replays in seconds; a t of 1e9 would replay for an hour."""
MAX_LINE = 4096
"""Characters a line may hold: a task is about 80. A file that is one endless line (a JSON
array of every task, /dev/zero) is refused at its first 4 KiB, not read whole into memory."""
BLOCK = 1 << 16
"""Characters read from the file at once."""
CHUNK = 2000
"""Tasks handled at once. Lines are parsed by one json.loads a chunk, as one JSON array: at C
speed (three times faster than a json.loads a line), while the dicts alive at once are a
chunk's, a megabyte, not the file's. A sort moves a chunk of numbers at once."""


class Column(array):  # type: ignore[type-arg]  # array is generic at run time from Python 3.12
    """One number a task, stored as a machine number (8 bytes, where a list holds a pointer
    and a 24- to 32-byte object). It equals a list of the same numbers, as the list it
    replaced did, so that callers and tests that compare with lists read the same."""

    __slots__ = ()
    __hash__ = None  # mutable, as array and list are

    def __eq__(self, other: object) -> Any:
        if isinstance(other, list):
            return self.tolist() == other
        return super().__eq__(other)

    def __ne__(self, other: object) -> Any:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal


@dataclass(frozen=True, slots=True)
class Trace:
    """Tasks in arrival order; `pool` holds indexes into `pools` (the config's pool order).

    The columns are Columns when built here; any mutable sequence of numbers will do (the
    tuner's split makes lists)."""

    pools: tuple[str, ...]
    t: MutableSequence[float]
    pool: MutableSequence[int]
    work_s: MutableSequence[float]
    tokens: MutableSequence[int]

    def __len__(self) -> int:
        return len(self.t)

    @property
    def duration(self) -> float:
        """Time of the last arrival (0 for an empty trace)."""
        return self.t[-1] if self.t else 0.0

    @classmethod
    def build(cls, pools: Iterable[str], tasks: Iterable[tuple[float, int, float, int]]) -> Trace:
        """From (t, pool index, work_s, tokens) in any order."""
        columns = _Columns()
        for t, pool, work, tokens in tasks:
            columns.add(t, pool, work, tokens)
        return columns.trace(pools)

    def rows(self) -> Iterator[dict[str, Any]]:
        names = self.pools
        for t, p, work, tokens in zip(self.t, self.pool, self.work_s, self.tokens, strict=True):
            yield {"t": t, "pool": names[p], "work_s": work, "tokens": tokens}


class _Columns:
    """A trace being read: its four columns, in file order until `trace` sorts them."""

    def __init__(self) -> None:
        self.t, self.work_s = Column("d"), Column("d")
        self.pool, self.tokens = Column("i"), Column("q")  # a pool index; up to MAX_COUNT

    def add(self, t: float, pool: int, work: float, tokens: int) -> None:
        self.t.append(t)
        self.pool.append(pool)
        self.work_s.append(work)
        self.tokens.append(tokens)

    def extend(self, t: list[float], pool: list[int], work: list[float], tokens: list[int]) -> None:
        self.t.extend(t)
        self.pool.extend(pool)
        self.work_s.extend(work)
        self.tokens.extend(tokens)

    def trace(self, pools: Iterable[str]) -> Trace:
        """The tasks sorted by arrival, stable: only if they are out of order, by a sorted
        list of task indexes, applied to one column at a time."""
        t = self.t
        if not all(map(le, t, islice(t, 1, None))):
            order = sorted(range(len(t)), key=t.__getitem__)
            for column in (self.t, self.pool, self.work_s, self.tokens):
                column[:] = _permuted(column, order)
        return Trace(tuple(pools), self.t, self.pool, self.work_s, self.tokens)


def _permuted(column: Column, order: list[int]) -> array:  # type: ignore[type-arg]
    """`column` in `order`, a chunk at a time: a list is the fastest way into an array (a
    map or a generator is twice slower), and a chunk's list is a small one."""
    permuted = array(column.typecode)
    for start in range(0, len(order), CHUNK):
        permuted.fromlist([column[i] for i in order[start : start + CHUNK]])
    return permuted


def write_trace(trace: Trace, out: IO[str]) -> None:
    for row in trace.rows():
        out.write(json.dumps(row, separators=(", ", ": ")))
        out.write("\n")


def parse_trace(lines: Iterable[str], config: Config, source: str = "<trace>") -> Trace:
    """The tasks of `lines` (a file's lines, say), read a chunk at a time."""
    index = {name: i for i, name in enumerate(config.pools)}
    columns = _Columns()
    lines = iter(lines)
    first = 1  # the number of the chunk's first line
    while chunk := list(islice(lines, CHUNK)):
        tasks = _plain_tasks(chunk, index)
        if tasks is not None:
            columns.extend(*tasks)
        else:  # some line is not a plain task: find it, and say what is wrong
            for number, line in enumerate(chunk, start=first):
                if line.strip():
                    columns.add(*_task(line, number, index, source))
        first += len(chunk)
    return columns.trace(config.pools)


def _plain_tasks(
    lines: list[str], index: dict[str, int]
) -> tuple[list[float], list[int], list[float], list[int]] | None:
    """The lines' tasks as four columns, every line parsed by one json.loads; None unless
    each non-blank line is one object `{...}` that is a valid task, so that this accepts
    exactly what `_task` line by line accepts."""
    objects = [line for line in lines if line.strip()]
    # Ten quotes: the four keys and the pool's name (a DNS label has none of its own). More
    # is a key given twice, which json.loads would take silently, the last one winning.
    if not all(
        line.lstrip()[0] == "{" and line.rstrip()[-1] == "}" and line.count('"') == 10
        for line in objects
    ):
        return None
    try:
        rows = json.loads("[" + ",".join(objects) + "]")
    except (ValueError, RecursionError):
        return None
    if len(rows) != len(objects):
        return None
    times: list[float] = []
    pools: list[int] = []
    works: list[float] = []
    tokens: list[int] = []
    for row in rows:
        try:
            t, pool, work, n = row["t"], index[row["pool"]], row["work_s"], row["tokens"]
        except (KeyError, TypeError):
            return None
        if not (
            len(row) == 4
            and (type(t) is float or type(t) is int)
            and 0 <= t <= MAX_TRACE_SECONDS
            and (type(work) is float or type(work) is int)
            and 0 < work <= DAY
            and type(n) is int
            and 0 <= n <= MAX_COUNT
        ):
            return None
        times.append(t)  # an int becomes a float in its column
        pools.append(pool)
        works.append(work)
        tokens.append(n)
    return times, pools, works, tokens


def load_trace(path: Path | str, config: Config) -> Trace:
    source = str(path)
    try:
        with Path(path).open(encoding="utf-8-sig") as file:
            return parse_trace(_lines(file, source), config, source)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise not_utf8(path, source, exc) from None


def _lines(file: IO[str], source: str) -> Iterator[str]:
    return bounded_lines(file, source, MAX_LINE, "JSON lines, one task a line")


def bounded_lines(file: IO[str], source: str, most: int, expected: str) -> Iterator[str]:
    """The file's lines, read a block at a time: a line longer than `most` characters is
    refused as soon as it is, and never held whole."""
    number, rest = 0, ""
    while block := file.read(BLOCK):
        lines = (rest + block).split("\n")
        rest = lines.pop()  # (the start of a line the next block goes on with)
        if len(rest) > most or (lines and max(map(len, lines)) > most):
            longer = next((k for k, line in enumerate(lines) if len(line) > most), len(lines))
            said = f"expected {expected} of at most {most:,} characters; got a longer line"
            raise ConfigError(source, f"line {number + longer + 1}", said)
        number += len(lines)
        yield from lines
    if rest:
        yield rest


def not_utf8(path: Path | str, source: str, exc: UnicodeDecodeError) -> ConfigError:
    """The line of the first byte that is not UTF-8, found by reading the file again as
    bytes: the text reader that failed knows only its place in a buffer. A newline is never
    part of a UTF-8 sequence, so each line decodes or fails on its own. Only a regular file
    is read again: a pipe (`<(zcat ...)`, a named one) is read to its end already, and
    opening a named one again waits for a writer that never comes."""
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            with Path(path).open("rb") as file:
                for number, raw in enumerate(file, start=1):
                    try:
                        decode(raw, source)
                    except ConfigError as error:
                        return ConfigError(source, f"line {number}", error.message)
    except OSError:
        pass  # gone since: say what the reader said
    return bad_byte(source, exc)


def read_trace(file: IO[str], config: Config, source: str) -> Trace:
    """The tasks of a stream already open (standard input, say), read as load_trace reads a
    file; a byte that is not UTF-8 is named without its line, as the stream cannot be read
    again."""
    try:
        return parse_trace(_lines(file, source), config, source)
    except UnicodeDecodeError as exc:
        raise bad_byte(source, exc) from None


def bad_byte(source: str, exc: UnicodeDecodeError) -> ConfigError:
    byte = exc.object[exc.start : exc.start + 1]
    return ConfigError(source, "", f"expected UTF-8 text, got byte 0x{byte.hex()}")


def _task(
    line: str, number: int, index: dict[str, int], source: str
) -> tuple[float, int, float, int]:
    where = f"line {number}"
    try:
        row = load_json_line(line, source, where, f"a flat JSON object like {_EXAMPLE}")
    except json.JSONDecodeError as exc:
        raise ConfigError(source, where, _not_json(exc)) from None
    if not isinstance(row, dict):
        raise ConfigError(source, where, f"expected a JSON object like {_EXAMPLE}")
    for key in row:
        if key not in FIELDS:
            raise ConfigError(source, f"{where}: {field(key)}", f"unknown key (expected {_KEYS})")
    for key in FIELDS:
        if key not in row:
            raise ConfigError(source, f"{where}: {key}", "required field is missing")
    pool = row["pool"]
    if not isinstance(pool, str) or pool not in index:
        names = listed(index, pool)
        raise ConfigError(
            source,
            f"{where}: pool",
            f"expected one of the config's pools ({names}), got {shown(pool)}",
        )
    t = _arrival(row["t"], f"{where}: t", source)
    work = _number(row["work_s"], f"{where}: work_s", source, DAY, positive=True)
    tokens = row["tokens"]
    if isinstance(tokens, TooLarge):
        raise ConfigError(source, f"{where}: tokens", _too_long(tokens, ">= 0", MAX_COUNT))
    if type(tokens) is not int or tokens < 0:
        raise ConfigError(
            source, f"{where}: tokens", f"expected an integer >= 0, got {shown(tokens)}"
        )
    if tokens > MAX_COUNT:
        raise ConfigError(
            source, f"{where}: tokens", f"expected a number <= {MAX_COUNT:g}, got {tokens}"
        )
    return t, index[pool], work, tokens


def _not_json(exc: json.JSONDecodeError) -> str:
    """What is wrong with a line that is no JSON, in words: json's own say where ("Extra
    data") or talk to a Python programmer ("decode using utf-8-sig")."""
    if exc.msg.startswith("Unexpected UTF-8 BOM"):  # at the line's start: files joined
        return (
            "expected a JSON object, got a byte order mark (U+FEFF) before it: files joined "
            "together, each saved with one? remove it"
        )
    if exc.msg == "Extra data":
        return f"expected one JSON object a line, got more at column {exc.colno}"
    return f"expected a JSON object: {exc.msg}"


def _arrival(value: Any, path: str, source: str) -> float:
    """A task's `t`: seconds from the trace's start. A Unix timestamp (a real trace's, say)
    is refused saying what `t` counts, not only that it is too large; so is a `t` past 31
    days, whose line (deep in a trace of milliseconds) is not where the mistake is."""
    try:
        return _number(value, path, source, MAX_TRACE_SECONDS, positive=False)
    except ConfigError as error:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise error  # no time at all (text, true, Infinity): said as such
        if value >= EPOCH_2001:
            raise ConfigError(
                source,
                path,
                f"expected seconds from the trace's start (midnight UTC of its first day), at "
                f"most {MAX_TRACE_SECONDS:.15g} (31 days), got {shown(value)}: a Unix "
                "timestamp? subtract the midnight before the first arrival, and give its "
                "date as --start",
            ) from None
        if value > MAX_TRACE_SECONDS:
            raise ConfigError(
                source,
                path,
                f"{error.message}: t counts seconds, 31 days at most (milliseconds? divide by "
                "1,000; a longer trace? replay a month at a time)",
            ) from None
        raise error


EPOCH_2001 = 978_307_200.0
"""2001-01-01 00:00 UTC as a Unix timestamp: a `t` past it is most likely one."""


def _number(value: Any, path: str, source: str, high: float, *, positive: bool) -> float:
    expected = "> 0" if positive else ">= 0"
    if isinstance(value, TooLarge):
        raise ConfigError(source, path, _too_long(value, expected, high))
    # bool is an int in Python, but `true` is no time; an int may be too large for isfinite.
    if (
        type(value) not in (int, float)
        or (type(value) is float and not math.isfinite(value))
        or value < 0
        or (positive and value == 0)
    ):
        raise ConfigError(source, path, f"expected a number {expected}, got {shown(value)}")
    if value > high:
        raise ConfigError(source, path, f"expected a number <= {high:.15g}, got {shown(value)}")
    return float(value)


def _too_long(value: TooLarge, low: str, high: float) -> str:
    """A number too long to read, told the bound a shorter one beyond it is told."""
    return value.beyond(low, f"<= {high:.15g}") or f"expected a number, got {value!r}"


_EXAMPLE = '{"t": 12.5, "pool": "acme-research", "work_s": 40, "tokens": 3000}'
_KEYS = ", ".join(FIELDS)
