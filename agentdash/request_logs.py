"""LLM request logs, as published, read as requests: when each came and its tokens.

The formats of the public production traces: the Azure LLM inference traces (2023 and 2024:
CSV, `TIMESTAMP,ContextTokens,GeneratedTokens`, a date and time a request), BurstGPT (CSV,
`Timestamp` in seconds from the log's first midnight, `Request tokens`, `Response tokens`, and
in its later files `Elapsed time`, the request's own latency), Mooncake (JSON lines,
`timestamp` in milliseconds, `input_length`, `output_length`) and Qwen-Bailian (JSON lines as
Mooncake's, `timestamp` in seconds, with `chat_id`). Each is recognised by its header or its
first line's keys; a CSV's columns may come in any order, among others.

The requests are kept as columns of machine numbers, not an object a row: a log of millions
of rows is read in a few hundred megabytes. A bad row raises ConfigError naming the file, the
line and the field.
"""

from __future__ import annotations

import csv
import json
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from agentdash.request_stamps import Stamps
from controller.core.config import ConfigError
from controller.core.config_errors import TooLarge, shown
from controller.core.config_types import DAY
from controller.core.input_files import DuplicateKey, load_json_line, unique_keys

MAX_TOKENS = 10**9
"""Tokens a request may have on either side: a billion is no real request."""
MAX_LINE = 1 << 20
"""Characters a line may hold: Mooncake's lines carry a request's block hashes, up to tens
of kilobytes."""

AZURE = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
BURSTGPT = ("Timestamp", "Request tokens", "Response tokens")
ELAPSED = "Elapsed time"
"""BurstGPT's column of each request's end-to-end latency, in seconds (its later files)."""
FORMATS = ("azure", "burstgpt", "mooncake", "bailian")
FLAT = 'a flat JSON object like {"timestamp": 61.1, "input_length": 521, "output_length": 132}'
"""What a line of JSON lines is, as a line nested too deep to read is told."""
CHUNK = 2000
"""JSON lines parsed at once: a chunk's dicts alive at once, a megabyte, not the file's."""
UNIX_END = 4_102_444_800
"""2100-01-01 as a Unix time: past the days simulate --start takes."""
Only = tuple[tuple[str, str], ...]
"""Fields and the values a request must have to be kept (--only NAME=VALUE)."""
TIME_FIELD = {"azure": "TIMESTAMP", "burstgpt": "Timestamp"}


@dataclass(slots=True)
class Log:
    """A log's requests, as read, in file order: one entry a request in each column."""

    format: str
    times: array[float] = field(default_factory=lambda: array("d"))
    """Seconds: from the midnight UTC of Unix day `day0` for a log of dates and times; from
    the log's own zero for one of offsets."""
    context: array[int] = field(default_factory=lambda: array("I"))
    generated: array[int] = field(default_factory=lambda: array("I"))
    lines: array[int] = field(default_factory=lambda: array("I"))
    """Each request's line in the log, for what is said of it."""
    elapsed: array[float] | None = None
    """Each request's own latency in seconds, NaN where its row has none; None for a log
    without the column."""
    day0: int | None = None
    """The Unix day (days since 1970-01-01) whose midnight UTC `times` count from; None for
    a log of offsets."""
    unmatched: int = 0
    """Requests left out for a field other than the --only value asked for."""

    @property
    def time_field(self) -> str:
        return TIME_FIELD.get(self.format, "timestamp")

    def add(self, t: float, context: int, generated: int, line: int) -> None:
        self.times.append(t)
        self.context.append(context)
        self.generated.append(generated)
        self.lines.append(line)


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
        header = {name.strip() for name in _split(line, source, 1)}
        if set(AZURE) <= header:
            return "azure"
        if set(BURSTGPT) <= header:
            return "burstgpt"
    expected = (
        "a request log: a CSV with the columns TIMESTAMP,ContextTokens,GeneratedTokens (Azure) "
        "or Timestamp,Request tokens,Response tokens (BurstGPT), or JSON lines with "
        "timestamp, input_length and output_length (Mooncake, Qwen-Bailian)"
    )
    raise ConfigError(source, "line 1", f"expected {expected}, got {shown(line[:80])}")


def read_log(lines: Iterator[str], source: str, format: str | None = None, only: Only = ()) -> Log:
    """Every request of the log `lines` (its first line included), in file order; with
    `only`, those whose fields have those values (a BurstGPT log's GPT-4 requests, say)."""
    first = next(lines, "")
    chosen = format or detect(first, source)
    rows = _rows(first, lines)
    log = Log(format=chosen)
    if chosen == "azure":
        _azure(rows, source, only, log)
    elif chosen == "burstgpt":
        _burstgpt(rows, source, only, log)
    else:
        _json(rows, source, only, log)
    return log


def _rows(first: str, lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    """Each non-blank line with its number, the first included, without a byte order mark:
    files joined by `cat` have one at each file's start."""
    if first.strip():
        yield 1, first.lstrip("\ufeff")
    for number, line in enumerate(lines, start=2):
        if line and not line.isspace():
            yield number, line.lstrip("\ufeff") if line[0] == "\ufeff" else line


# --- CSV -----------------------------------------------------------------------------------


def _csv(
    rows: Iterator[tuple[int, str]], source: str, needed: tuple[str, ...], only: Only, log: Log
) -> tuple[dict[str, int], Iterator[tuple[int, list[str]]]]:
    """The header's columns by name, checked for those `needed` and those `only` names, and
    the fields of each row with the values `only` asks for (the others counted in `log`)."""
    number, line = next(rows, (1, ""))
    header = [name.strip() for name in _split(line, source, number)]
    try:  # a second column of a name would win silently, as a JSON key given twice does
        unique_keys([(name, None) for name in header])
    except DuplicateKey as twice:
        said = f"expected each column once in the header, got {shown(twice.key)} twice"
        raise ConfigError(source, f"line {number}", said) from None
    missing = [name for name in needed if name not in header]
    if missing:
        said = f"expected a header with the columns {', '.join(needed)}, got {shown(line[:80])}"
        raise ConfigError(source, f"line {number}", said)
    absent = [name for name, _ in only if name not in header]
    if absent:
        said = f"expected a column {absent[0]} (--only), got the header {shown(line[:80])}"
        raise ConfigError(source, f"line {number}", said)
    columns = {name: k for k, name in enumerate(header)}
    picks = [(columns[name], value) for name, value in only]
    return columns, _fields(rows, source, len(header), line, picks, log)


def _fields(
    rows: Iterator[tuple[int, str]],
    source: str,
    width: int,
    header: str,
    picks: list[tuple[int, str]],
    log: Log,
) -> Iterator[tuple[int, list[str]]]:
    """Each row's fields. A row with no quote is split on its commas: the csv module's
    reader, built a row, would take most of a large log's time."""
    for number, line in rows:
        if not line.strip(', \t"'):  # a spreadsheet's empty row, as blank as a blank line
            continue
        if line.lstrip("\ufeff") == header:  # the header again: files joined by `cat`
            continue
        values = line.split(",") if '"' not in line else _split(line, source, number)
        if len(values) != width:
            said = f"expected {width} fields, as the header has, got {len(values)}"
            raise ConfigError(source, f"line {number}", said)
        if picks and any(values[k].strip() != value for k, value in picks):
            log.unmatched += 1
            continue
        yield number, values


def _split(line: str, source: str, number: int) -> list[str]:
    """A CSV line's fields, quotes read. A carriage return inside a line (a file whose lines
    end in CR alone, as old Mac spreadsheets wrote them) is no CSV the csv module reads."""
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        said = "expected lines ending in LF or CRLF, got a carriage return (CR) inside one"
        raise ConfigError(source, f"line {number}", said) from None


def _azure(rows: Iterator[tuple[int, str]], source: str, only: Only, log: Log) -> None:
    stamps = Stamps(source)
    columns, read = _csv(rows, source, AZURE, only, log)
    at_stamp, at_context, at_generated = (columns[name] for name in AZURE)
    for number, row in read:
        t = stamps.seconds(row[at_stamp], f"line {number}: TIMESTAMP")
        context = _csv_count(row[at_context], source, number, "ContextTokens")
        generated = _csv_count(row[at_generated], source, number, "GeneratedTokens")
        log.add(t, context, generated, number)
    log.day0 = stamps.day0


def _burstgpt(rows: Iterator[tuple[int, str]], source: str, only: Only, log: Log) -> None:
    columns, read = _csv(rows, source, BURSTGPT, only, log)
    at_stamp, at_context, at_generated = (columns[name] for name in BURSTGPT)
    at_elapsed = columns.get(ELAPSED)
    if at_elapsed is not None:
        log.elapsed = array("d")
    for number, row in read:
        t = _csv_seconds(row[at_stamp], source, f"line {number}: Timestamp")
        context = _csv_count(row[at_context], source, number, "Request tokens")
        generated = _csv_count(row[at_generated], source, number, "Response tokens")
        log.add(t, context, generated, number)
        if log.elapsed is not None and at_elapsed is not None:
            log.elapsed.append(_csv_elapsed(row[at_elapsed], source, number))


def _csv_count(text: str, source: str, number: int, name: str) -> int:
    """A count of tokens; `472.0` too, as pandas writes a column of whole numbers that had a
    gap (a float column)."""
    text = text.strip()
    whole, _, zeros = text.partition(".")
    if (
        whole.isascii()  # str.isdigit takes '²', which int() refuses
        and whole.isdigit()
        and len(whole) <= 10
        and not zeros.strip("0")
        and int(whole) <= MAX_TOKENS
    ):
        return int(whole)
    expected = f"a whole number of tokens, 0 to {MAX_TOKENS:,}"
    said = f"expected {expected}, got {shown(text)}"
    raise ConfigError(source, f"line {number}: {name}", said)


def _csv_seconds(text: str, source: str, field: str) -> float:
    try:
        seconds = float(text) if len(text) <= 32 else math.nan
    except ValueError:
        seconds = math.nan
    return offset(seconds, source, field, "seconds", shown(text))


def _csv_elapsed(text: str, source: str, number: int) -> float:
    """A request's latency, NaN where its row leaves it empty."""
    if not text.strip():
        return math.nan
    try:
        seconds = float(text) if len(text) <= 32 else math.nan
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 <= seconds <= DAY):
        expected = f"seconds a request took, 0 to {DAY:,.0f} (a day), or empty"
        said = f"expected {expected}, got {shown(text)}"
        raise ConfigError(source, f"line {number}: {ELAPSED}", said)
    return seconds


def offset(seconds: float, source: str, field: str, unit: str, text: str) -> float:
    """`seconds` from a log's own zero, checked: no earlier than it, and no later than a
    Unix time can be that a replay takes (a log of Unix times is read as one of dates)."""
    if math.isfinite(seconds) and 0 <= seconds < UNIX_END:
        return seconds
    most = UNIX_END * (1000 if unit == "milliseconds" else 1)
    said = (
        f"expected {unit} from the log's start, or since 1970 (a Unix time, before 2100), "
        f"0 to {most:,.0f}, got {text}"
    )
    raise ConfigError(source, field, said)


# --- JSON lines ------------------------------------------------------------------------------


def _json(rows: Iterator[tuple[int, str]], source: str, only: Only, log: Log) -> None:
    unit = 1000.0 if log.format == "mooncake" else 1.0  # Mooncake's timestamps: milliseconds
    while chunk := list(islice(rows, CHUNK)):
        if not _json_chunk(chunk, unit, only, log):
            for number, line in chunk:
                _json_line(number, line, unit, source, only, log)


def _unmatched(row: dict[str, Any], only: Only) -> bool:
    """Whether a JSON line's object lacks a value `only` asks for: a string as it is, any
    other value as JSON writes it (`1`, `true`)."""
    for name, value in only:
        have = row.get(name)
        if (have if isinstance(have, str) else json.dumps(have)) != value or name not in row:
            return True
    return False


def _json_chunk(chunk: list[tuple[int, str]], unit: float, only: Only, log: Log) -> bool:
    """The chunk's requests added to `log`, its lines parsed by one json.loads, as one JSON
    array: at C speed, where a json.loads a line with a hook a key took three times as long
    (24 s a million Mooncake lines, against 7 s). False, and nothing added, unless each line
    is a valid request that `_json_line` would read the same. json.loads takes a key given
    twice silently, the last one winning: with no backslash on a line, a string cannot hold a
    quote, so each `":` ends a key, and a line with as many of them as its object has keys
    gives each key once, none nested."""
    lines = [line for _, line in chunk]
    if any("\\" in line for line in lines):
        return False
    try:
        rows = json.loads("[" + ",".join(lines) + "]")
    except (ValueError, RecursionError):
        return False
    if len(rows) != len(lines):
        return False
    read: list[tuple[float, int, int] | None] = []
    for line, row in zip(lines, rows, strict=True):
        try:
            stamp, context, generated = row["timestamp"], row["input_length"], row["output_length"]
        except (KeyError, TypeError):
            return False
        if not (
            line.count('":') == len(row)
            and (type(stamp) is float or type(stamp) is int)
            and 0 <= stamp < UNIX_END * unit
            and type(context) is int
            and 0 <= context <= MAX_TOKENS
            and type(generated) is int
            and 0 <= generated <= MAX_TOKENS
        ):
            return False
        read.append(None if only and _unmatched(row, only) else (stamp / unit, context, generated))
    for (number, _), request in zip(chunk, read, strict=True):
        if request is None:
            log.unmatched += 1
        else:
            log.add(*request, number)
    return True


def _json_line(number: int, line: str, unit: float, source: str, only: Only, log: Log) -> None:
    """The request of one line added to `log`, or what is wrong with it said."""
    at = f"line {number}"
    try:
        row = load_json_line(line, source, at, FLAT)
    except ValueError:
        row = None
    if not isinstance(row, dict):
        said = f"expected a JSON object, got {shown(line[:80])}"
        raise ConfigError(source, at, said)
    if only and _unmatched(row, only):
        log.unmatched += 1
        return
    stamp = row.get("timestamp")
    if not isinstance(stamp, int | float | TooLarge) or isinstance(stamp, bool):
        said = f"expected a number, got {shown(stamp)}"
        raise ConfigError(source, f"{at}: timestamp", said)
    # a number too long to read is past any time, and past what a float holds
    seconds = math.inf if isinstance(stamp, TooLarge) else stamp / unit
    name = "milliseconds" if unit == 1000.0 else "seconds"
    t = offset(seconds, source, f"{at}: timestamp", name, shown(stamp))
    context = _json_count(row.get("input_length"), source, f"{at}: input_length")
    generated = _json_count(row.get("output_length"), source, f"{at}: output_length")
    log.add(t, context, generated, number)


def _json_count(value: object, source: str, field: str) -> int:
    """A count of tokens; `472.0` too, as pandas writes whole numbers of a float column."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TOKENS:
        expected = f"a whole number of tokens, 0 to {MAX_TOKENS:,}"
        raise ConfigError(source, field, f"expected {expected}, got {shown(value)}")
    return value
