"""Command-line flags checked as the config's fields are: each `type=` here refuses a bad value
with what was expected, and the parser prints it on one line (exit 2)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn

from controller.core import names
from controller.core.config import why_unreadable
from controller.core.printable import loggable


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line naming the flag (not the usage block), with no
    password of a URL given in it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {loggable(message)} (see {self.prog} --help)\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """argparse's, but a flag unknown after a COMMAND is told by that command's parser
        (argparse says it at the top, `see agentdash --help`, which lists none of its flags)."""
        argv = list(sys.argv[1:] if args is None else args)
        parsed, extras = self.parse_known_args(argv, namespace)
        if extras:
            _chosen(self, parsed, argv, extras).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def _chosen(
    parser: argparse.ArgumentParser, parsed: argparse.Namespace, argv: list[str], extras: list[str]
) -> argparse.ArgumentParser:
    """The innermost (sub)command parser whose name comes before every one of `extras` in
    `argv`: the one whose flags they were meant as."""
    first = min(argv.index(extra) if extra in argv else 0 for extra in extras)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            command = getattr(parsed, action.dest, None)
            if command in action.choices and command in argv[:first]:
                rest = argv[argv.index(command) + 1 :]
                return _chosen(action.choices[command], parsed, rest, extras)
    return parser


def number(low: float, high: float, *, above: bool = False) -> Callable[[str], float]:
    """A finite number from `low` (or above it) to `high`."""
    expected = f"a number {'>' if above else '>='} {low:.15g} and <= {high:.15g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low or (above and value == low) or value > high:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2099, 12, 31)
"""The dates --start takes: the Unix epoch's day (the default) to the end of the century."""


def day(text: str) -> float:
    """A date, YYYY-MM-DD, as the Unix time of its midnight UTC (--start)."""
    expected = f"a date YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}, got {text!r}"
    try:
        value = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        value = None
    if value is None or not FIRST_DAY <= value <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"expected {expected}")
    return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()


def add_start(parser: argparse.ArgumentParser) -> None:
    """--start, of simulate and tune: a replay knows its trace's date only from it."""
    parser.add_argument(
        "--start",
        type=day,
        metavar="YYYY-MM-DD",
        help="the date of the trace's first day: t = 0 is its midnight UTC, and tenants' "
        "budget days follow its calendar in their time_zone (default 1970-01-01)",
    )


def path(text: str) -> Path:
    """A file to read, by name: `-` is refused rather than looked for as a file of that name
    (`no such file`); only the flags that say so read standard input (input_path)."""
    if text == "-":
        raise argparse.ArgumentTypeError(
            "expected a file name, got '-' (standard input is /dev/stdin)"
        )
    return input_path(text)


def input_path(text: str) -> Path:
    """A file to read, or `-` for standard input; never empty (Path("") is the current
    directory, named "." in errors)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file name, got ''")
    return Path(text)


def output_path(text: str) -> Path:
    """A file to write: `-` is refused, not made a file named `-` (`--trace -` reads standard
    input, so `-` here reads as standard output, which the report itself goes to)."""
    if text == "-":
        raise argparse.ArgumentTypeError(
            "expected a file name, got '-' (standard output is /dev/stdout)"
        )
    return path(text)


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def size(low: int, high: int) -> Callable[[str], int]:
    """Bytes, as nats-server writes them: a whole number with K, M, G or T (powers of 1024)."""
    expected = f"a size like 512M or 8G, from {low // 1024**2}M to {high // 1024**4}T"

    def parse(text: str) -> int:
        number, unit = text[:-1], text[-1:].upper()
        if unit.isdigit():
            number, unit = text, ""
        value = int(number) * _UNITS[unit] if number.isdigit() and unit in _UNITS else -1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


MAX_SEED = 2**63 - 1
"""The largest --seed of every command (demo, simulate, tune): one limit, said the same way."""


def whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {low} to {high}, got {text!r}"
            )
        return value

    return parse


def listen(text: str) -> str:
    """`[HOST]:PORT` for --http, checked now rather than after connecting to everything."""
    from agentdash.daemon import parse_listen

    try:
        parse_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    """A flag checked as the config checks its field (controller.core.names)."""

    def parse(text: str) -> str:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{exc}, got {text!r}") from None

    return parse


nats_url = _checked(names.nats_url)
nats_name = _checked(names.nats_name)
"""A tenant's, tier's or consumer's name: one NATS subject token."""
pool = _checked(names.pool)


def readable_file(text: str) -> str:
    """A file read later (--kubeconfig): one that is missing, a folder or not ours to read is
    said now, before NATS or the API server is contacted, not as a failure to reach them."""
    reason = why_unreadable(text)  # /dev/null, a pipe: it is read twice, checked then loaded
    if reason is not None:
        raise argparse.ArgumentTypeError(
            f"expected a file that can be read, got {text!r} ({reason})"
        )
    return text


def name(text: str) -> str:
    """A kubeconfig context and the like: any text, but some."""
    if not text.strip() or len(text) > 253:
        raise argparse.ArgumentTypeError(f"expected a name of 1-253 characters, got {text!r}")
    return text
