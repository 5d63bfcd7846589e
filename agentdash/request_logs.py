"""LLM request logs, as published, read as requests: when each came and its tokens.

The formats of the public production traces: the Azure LLM inference traces (2023 and 2024:
CSV, `TIMESTAMP,ContextTokens,GeneratedTokens`, a date and time a request), BurstGPT (CSV,
`Timestamp` in seconds from the log's start, `Request tokens`, `Response tokens`), Mooncake
(JSON lines, `timestamp` in milliseconds, `input_length`, `output_length`) and Qwen-Bailian
(JSON lines as Mooncake's, `timestamp` in seconds, with `chat_id`). Each is recognised by its
header or its first line's keys.

A request's `t` is seconds from midnight UTC of its log's first day: for a log of dates and
times, the midnight before its first row (`day0` says which day); for one of offsets, the
log's own zero. A bad row raises ConfigError naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import NoReturn

from agentdash.flags import FIRST_DAY, LAST_DAY
from controller.core.config import ConfigError
from controller.core.config_errors import TooLarge, shown
from controller.core.input_files import DuplicateKey, load_json_line, unique_keys
from controller.simulate.trace import MAX_TRACE_SECONDS

MAX_TOKENS = 10**9
"""Tokens a request may have on either side: a billion is no real request."""
MAX_LINE = 1 << 20
"""Characters a line may hold: Mooncake's lines carry a request's block hashes, up to tens
of kilobytes."""

AZURE = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
BURSTGPT = ("Timestamp", "Request tokens", "Response tokens")
FORMATS = ("azure", "burstgpt", "mooncake", "bailian")
FLAT = 'a flat JSON object like {"timestamp": 61.1, "input_length": 521, "output_length": 132}'
"""What a line of JSON lines is, as a line nested too deep to read is told."""
_STAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?"
)


@dataclass(frozen=True, slots=True)
class Request:
    """One request: when it came (seconds from the log's day 0, UTC) and its tokens."""

    t: float
    context: int
    generated: int
    line: int
    """Its line in the log, for what is said of it."""


@dataclass(frozen=True, slots=True)
class Log:
    """A log's requests, as read, and what its times count from."""

    requests: list[Request]
    format: str
    day0: date | None
    """The date whose midnight UTC is t = 0, for a log of dates and times; None for a log of
    offsets from its own start."""


def detect(first: str, source: str) -> str:
    """The format of a log whose first line is `first`."""
    line = first.lstrip("\ufeff").strip()
    if line.startswith("{"):
        try:
            keys = load_json_line(line, source, "line 1", FLAT)
        except ValueError:
            keys = None
        if isinstance(keys, dict) and {"timestamp", "input_length", "output_length"} <= keys.keys():
            return "bailian" if "chat_id" in keys else "mooncake"
    else:
        header = next(csv.reader([line]), [])
        if tuple(header[:3]) == AZURE:
            return "azure"
        if set(BURSTGPT) <= set(header):
            return "burstgpt"
    expected = (
        "a request log: a CSV with the header TIMESTAMP,ContextTokens,GeneratedTokens (Azure) "
        "or Timestamp,...,Request tokens,Response tokens (BurstGPT), or JSON lines with "
        "timestamp, input_length and output_length (Mooncake, Qwen-Bailian)"
    )
    raise ConfigError(source, "line 1", f"expected {expected}, got {shown(line[:80])}")


def read_log(lines: Iterator[str], source: str, format: str | None = None) -> Log:
    """Every request of the log `lines` (its first line included), in file order."""
    first = next(lines, "")
    chosen = format or detect(first, source)
    rows = _rows(first, lines)
    if chosen == "azure":
        requests, day0 = _azure(rows, source)
        return Log(requests=requests, format=chosen, day0=day0)
    read = _burstgpt if chosen == "burstgpt" else _json_reader(chosen)
    return Log(requests=read(rows, source), format=chosen, day0=None)


def _rows(first: str, lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    """Each non-blank line with its number, the first included."""
    if first.strip():
        yield 1, first.lstrip("\ufeff")
    for number, line in enumerate(lines, start=2):
        if line.strip():
            yield number, line


# --- CSV -----------------------------------------------------------------------------------


def _csv(
    rows: Iterator[tuple[int, str]], source: str, needed: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """The CSV rows as {column: text}, the header checked for the columns `needed`."""
    number, line = next(rows, (1, ""))
    header = next(csv.reader([line]), [])
    try:  # a second column of a name would win silently, as a JSON key given twice does
        unique_keys([(name, None) for name in header])
    except DuplicateKey as twice:
        said = f"expected each column once in the header, got {shown(twice.key)} twice"
        raise ConfigError(source, f"line {number}", said) from None
    missing = [name for name in needed if name not in header]
    if missing:
        said = f"expected a header with the columns {', '.join(needed)}, got {shown(line[:80])}"
        raise ConfigError(source, f"line {number}", said)
    for number, line in rows:
        values = next(csv.reader([line]), [])
        if len(values) != len(header):
            said = f"expected {len(header)} fields, as the header has, got {len(values)}"
            raise ConfigError(source, f"line {number}", said)
        yield number, dict(zip(header, values, strict=True))


def _azure(rows: Iterator[tuple[int, str]], source: str) -> tuple[list[Request], date | None]:
    requests: list[Request] = []
    midnight: datetime | None = None
    for number, row in _csv(rows, source, AZURE):
        at = f"line {number}"
        stamp = _stamp(row["TIMESTAMP"], source, f"{at}: TIMESTAMP")
        if midnight is None:
            if not FIRST_DAY <= stamp.date() <= LAST_DAY:
                _out_of_days(row["TIMESTAMP"], source, f"{at}: TIMESTAMP")
            midnight = datetime(stamp.year, stamp.month, stamp.day, tzinfo=UTC)
        t = _offset((stamp - midnight).total_seconds(), source, f"{at}: TIMESTAMP", midnight)
        context = _csv_count(row["ContextTokens"], source, f"{at}: ContextTokens")
        generated = _csv_count(row["GeneratedTokens"], source, f"{at}: GeneratedTokens")
        requests.append(Request(t=t, context=context, generated=generated, line=number))
    return requests, None if midnight is None else midnight.date()


def _burstgpt(rows: Iterator[tuple[int, str]], source: str) -> list[Request]:
    requests: list[Request] = []
    for number, row in _csv(rows, source, BURSTGPT):
        at = f"line {number}"
        t = _csv_seconds(row["Timestamp"], source, f"{at}: Timestamp")
        context = _csv_count(row["Request tokens"], source, f"{at}: Request tokens")
        generated = _csv_count(row["Response tokens"], source, f"{at}: Response tokens")
        requests.append(Request(t=t, context=context, generated=generated, line=number))
    return requests


def _stamp(text: str, source: str, field: str) -> datetime:
    """A date and time; without a zone, UTC. Fractions finer than a microsecond (the 2023
    trace gives seven digits) are cut."""
    found = _STAMP.fullmatch(text.strip())
    try:
        if found is None:
            raise ValueError(text)
        day, hour, minute, second, fraction, zone = found.groups()
        stamp = datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}")
        stamp = stamp.replace(microsecond=int(f"{fraction or ''}000000"[:6]), tzinfo=_zone(zone))
    except ValueError:
        expected = "a date and time like 2023-11-16 18:17:03.9799600"
        raise ConfigError(source, field, f"expected {expected}, got {shown(text)}") from None
    try:
        return stamp.astimezone(UTC)
    except OverflowError:  # its zone takes it before year 1 or after 9999
        _out_of_days(text, source, field)


def _out_of_days(text: str, source: str, field: str) -> NoReturn:
    """A log's first day is the replay's --start: one that flag refuses is refused here,
    rather than printed as the --start to give."""
    expected = (
        f"a date and time from {FIRST_DAY} to {LAST_DAY} UTC (the days simulate --start takes)"
    )
    raise ConfigError(source, field, f"expected {expected}, got {shown(text)}")


def _zone(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[-2:])
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _csv_count(text: str, source: str, field: str) -> int:
    text = text.strip()
    if not text.isdigit() or len(text) > 10 or int(text) > MAX_TOKENS:
        expected = f"a whole number of tokens, 0 to {MAX_TOKENS:,}"
        raise ConfigError(source, field, f"expected {expected}, got {shown(text)}")
    return int(text)


def _csv_seconds(text: str, source: str, field: str) -> float:
    try:
        seconds = float(text) if len(text) <= 32 else math.nan
    except ValueError:
        seconds = math.nan
    return _offset(seconds, source, field, None, shown(text))


# --- JSON lines ------------------------------------------------------------------------------


def _json_reader(format: str) -> Callable[[Iterator[tuple[int, str]], str], list[Request]]:
    unit = 1000.0 if format == "mooncake" else 1.0  # Mooncake's timestamps are milliseconds

    def read(rows: Iterator[tuple[int, str]], source: str) -> list[Request]:
        requests: list[Request] = []
        for number, line in rows:
            at = f"line {number}"
            try:
                row = load_json_line(line, source, at, FLAT)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                said = f"expected a JSON object, got {shown(line[:80])}"
                raise ConfigError(source, at, said)
            stamp = row.get("timestamp")
            if not isinstance(stamp, int | float | TooLarge) or isinstance(stamp, bool):
                said = f"expected a number, got {shown(stamp)}"
                raise ConfigError(source, f"{at}: timestamp", said)
            # a number too long to read is past any time, and past what a float holds
            seconds = math.inf if isinstance(stamp, TooLarge) else stamp / unit
            t = _offset(seconds, source, f"{at}: timestamp", None, shown(stamp))
            context = _json_count(row.get("input_length"), source, f"{at}: input_length")
            generated = _json_count(row.get("output_length"), source, f"{at}: output_length")
            requests.append(Request(t=t, context=context, generated=generated, line=number))
        return requests

    return read


def _json_count(value: object, source: str, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TOKENS:
        expected = f"a whole number of tokens, 0 to {MAX_TOKENS:,}"
        raise ConfigError(source, field, f"expected {expected}, got {shown(value)}")
    return value


def _offset(
    seconds: float, source: str, field: str, midnight: datetime | None, text: str = ""
) -> float:
    """`seconds` from t = 0, checked: the backtest replays at most 31 days."""
    if math.isfinite(seconds) and 0 <= seconds <= MAX_TRACE_SECONDS:
        return seconds
    if midnight is not None:
        first = midnight.strftime("%Y-%m-%d")
        expected = f"a time from {first} 00:00 UTC (the first row's day) to 31 days after"
        said = f"expected {expected}: sort the log by time, or split it"
        raise ConfigError(source, field, said)
    got = text or shown(seconds)
    said = (
        f"expected seconds from the log's start, 0 to {MAX_TRACE_SECONDS:,.0f} (31 days), got {got}"
    )
    raise ConfigError(source, field, said)
