"""How a mistake in a file reads: one line, `file: field.path: what was expected` (or
`file:line: field.path: ...` where the line of the field is known).

`first_error` turns pydantic's first error into a field path and an expectation ("expected an
integer, got true"); values and keys are shown cut short and quoted where they would not read
plainly, so that no input, however long or odd, makes the line longer than a line.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic.fields import FieldInfo

from controller.core.printable import loggable
from controller.core.wording import plural

MAX_DIGITS = 18


class ConfigError(Exception):
    """A user mistake in a file: `file[:line]: field.path: what was expected`."""

    def __init__(self, source: str, path: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.path = path
        self.message = message
        self.line = line
        where = source if line is None else f"{source}:{line}"  # as compilers say it
        where = f"{where}: {path}" if path else where
        # one line that a terminal shows as it is, whatever a key, a value or a file name
        # held (each part is quoted where it is shown), with no password of a URL
        super().__init__(loggable(f"{where}: {message}"))

    def at_line(self, line: int | None) -> ConfigError:
        """The same mistake, said with the line of the file it is on (`FILE:LINE: path: ...`),
        so that an editor or a terminal can jump to it."""
        return ConfigError(self.source, self.path, self.message, line)


@dataclass(frozen=True, slots=True)
class TooLarge:
    """An integer literal longer than MAX_DIGITS, kept unconverted: Python refuses to parse
    more than 4300 digits, and no count agentdash reads needs more than 18."""

    digits: int
    negative: bool = False

    def __repr__(self) -> str:
        return f"a {self.digits}-digit {'negative ' if self.negative else ''}number"

    def beyond(self, low: str | None, high: str | None) -> str | None:
        """What its field expected, said by the field's own bound (`<= 1e+15`: what a shorter
        number over it is told), not by the digits it may have: None if it has no bound."""
        bound = low if self.negative else high
        return None if bound is None else f"expected a number {bound}, got {self!r}"


class InvalidField(ValueError):
    """A semantic error raised from a validator, carrying its own field path."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(message)


class UnknownReference(InvalidField):
    def __init__(self, path: str, value: str, kind: str, known: Mapping[str, Any]) -> None:
        names = listed(sorted(known), value) or "none defined"
        super().__init__(path, f"expected one of the defined {kind}s ({names}), got {shown(value)}")


LISTED = 8
"""The names an error lists of those it expected: a fleet of 10,000 pools would otherwise
make its one line 70 KB."""


def listed(names: Iterable[str], given: object = None) -> str:
    """The first LISTED names, how many more, and those nearest `given` where they are not
    listed: `a, b, c and 9,997 more; did you mean acme-research?`."""
    every = list(names)
    if len(every) <= LISTED:
        return ", ".join(every)
    text = f"{', '.join(every[:LISTED])} and {len(every) - LISTED:,} more"
    close = _closest(given, every[LISTED:]) if isinstance(given, str) else []
    return f"{text}; did you mean {' or '.join(close)}?" if close else text


def _expectation(error: Mapping[str, Any]) -> str:
    """Turn one pydantic error into 'expected ..., got ...'."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    got = f", got {shown(value)}" if kind != "missing" else ""
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required field is missing"
    bounds = {
        "greater_than": "a number greater than {gt}",
        "greater_than_equal": "a number >= {ge}",
        "less_than": "a number less than {lt}",
        "less_than_equal": "a number <= {le}",
    }
    if kind in bounds:
        numbers = {k: f"{v:g}" if isinstance(v, int | float) else v for k, v in ctx.items()}
        return "expected " + bounds[kind].format(**numbers) + got
    names = {
        "int_type": "an integer",
        "int_parsing": "an integer",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "string_type": "a string",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "list_type": "a list",
        "tuple_type": "a list",
        "finite_number": "a finite number",
        "string_too_short": "a non-empty string",
        "string_too_long": "at most {max_length} characters",
    }
    if kind in names:
        return f"expected {names[kind].format(**ctx)}{got}"
    if kind == "value_error" and "error" in ctx:
        said = str(ctx["error"])
        return said if ", got " in said else f"{said}{got}"
    message = str(error.get("msg", "invalid value"))
    return message[0].lower() + message[1:] + got


def shown(value: Any) -> str:
    """A value as a one-line error shows it, cut short (a file may hold megabytes): `true`,
    `false` and `null` as the YAML or JSON the person wrote says them, not Python's `True`
    and `None`; anything else by its repr (a string quoted, so that an empty or spaced one
    still shows)."""
    text = _written(value, 81)
    return text if len(text) <= 80 else text[:77] + "..."


_WORDS = {True: "true", False: "false", None: "null"}


def _written(value: Any, room: int) -> str:
    """`value` in flow style, or its first `room` characters at least: a list or a mapping
    is written only until that much is (the rest would be cut off anyway)."""
    if value is True or value is False or value is None:
        return _WORDS[value]
    if isinstance(value, dict):
        pairs = (f"{_written(k, room)}: {_written(v, room)}" for k, v in value.items())
        return "{" + _joined(pairs, room) + "}"
    if isinstance(value, list | tuple):
        return "[" + _joined((_written(item, room) for item in value), room) + "]"
    # What YAML's tags make (!!timestamp, !!binary, !!set) is said as YAML, not as Python.
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    if isinstance(value, bytes):
        return f"binary data ({len(value):,} bytes)"
    if isinstance(value, set | frozenset):
        items = sorted(value, key=repr)
        return "a set {" + _joined((_written(item, room) for item in items), room) + "}"
    return repr(value)


def _joined(parts: Iterator[str], room: int) -> str:
    text = next(parts, "")
    for part in parts:
        if len(text) >= room:
            break
        text += ", " + part
    return text


def _dotted(loc: Sequence[int | str]) -> str:
    if loc and loc[-1] == "[key]":  # a bad name: the mapping that holds it (the error shows it)
        loc = loc[:-2]
    return ".".join(key(part) for part in loc)


def key(part: int | str) -> str:
    """A key as a field path shows it: plain if it reads plainly, else quoted."""
    text = str(part)
    if text and text.isprintable() and not any(c.isspace() or c == "." for c in text):
        return text if len(text) <= 80 else shown(text)
    return shown(text)


def first_error(
    exc: ValidationError, *, strip: int = 0, model: type[BaseModel] | None = None
) -> tuple[str, str]:
    """The first error of a pydantic ValidationError as (field path, expectation). Given the
    `model` validated, the model's types say more: an unknown key close to one it allows says
    which it may have meant (and is told before the required key it misspells), a number too
    long to read is told its field's bound, a pair with too many items how many it holds."""
    errors = exc.errors(include_url=False)
    error = errors[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InvalidField):
        return cause.path, cause.message
    more = len(errors) - 1
    if model is not None:
        slip = _misspelt(errors, model)
        if slip is not None:  # the unknown key is the mistake, the missing one its echo
            error, more = slip, more - 1
    loc = _located(error)
    message = _expectation(error)
    if model is not None and (pair := _pair(error, loc, model)) is not None:
        loc, message = pair
    elif model is not None:
        message = _said_by_the_model(error, loc, model) or message
    if more:
        message += f" (and {more} more)"
    return _dotted(loc[strip:]), message


def _located(error: Mapping[str, Any]) -> list[int | str]:
    return [part for part in error["loc"] if not str(part).startswith("function-")]


def _misspelt(errors: Sequence[Mapping[str, Any]], model: type[BaseModel]) -> Any:
    """When the first error is a required key missing, an unknown key beside it that is its
    slip (`pendng` for `pending`): that error, or None."""
    loc = _located(errors[0])
    if errors[0]["type"] != "missing" or not loc:
        return None
    keys = _keys_at(model, loc[:-1])
    for error in errors[1:]:
        there = _located(error)
        beside = error["type"] == "extra_forbidden" and there[:-1] == loc[:-1]
        if beside and str(loc[-1]) in _closest(str(there[-1]), keys):
            return error
    return None


def _said_by_the_model(
    error: Mapping[str, Any], loc: list[int | str], model: type[BaseModel]
) -> str | None:
    """What the model's own types say better than pydantic's message: the key an unknown one
    is near, the bound a number too long to read is over."""
    value = error.get("input")
    if error["type"] == "extra_forbidden" and loc:
        close = _closest(str(loc[-1]), _keys_at(model, loc[:-1]))
        return f"unknown key (did you mean {' or '.join(close)}?)" if close else None
    if isinstance(value, TooLarge):
        low, high = _bounds(_at(model, loc))
        return value.beyond(low, high)
    return None


def _pair(
    error: Mapping[str, Any], loc: list[int | str], model: type[BaseModel]
) -> tuple[list[int | str], str] | None:
    """A pair (`[time, value]`) given more or fewer items than it holds: where the pair is,
    and how many it was given; None for any other error."""
    kind, value = error["type"], error.get("input")
    if kind == "too_long":
        where = loc
    elif kind == "missing" and loc and isinstance(loc[-1], int):
        where = loc[:-1]  # said of the pair, not of the item it lacks
    else:
        return None
    items = _at(model, where)[0]
    if get_origin(items) is not tuple or not isinstance(value, list):
        return None
    return (
        where,
        f"expected a list of {len(get_args(items))} items, got {plural(len(value), 'item')}",
    )


def _closest(word: str, keys: list[str]) -> list[str]:
    """The allowed key nearest `word`, or the two that are equally near (`replicas`: min_ or
    max_replicas), if near enough to be a slip; else those it begins, up to an `_`."""
    close = difflib.get_close_matches(word, keys, 2, 0.75)
    if not close:  # the key without its suffix (`creds`: creds_file), too short for a slip
        return [key for key in keys if word and key.startswith(f"{word}_")][:2]
    ratio = [difflib.SequenceMatcher(None, word, key).ratio() for key in close]
    return close[: 2 if len(close) == 2 and ratio[0] == ratio[1] else 1]


def _keys_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys allowed at `loc` in `model` (its names and their aliases); none where the way
    there is not plain (a union of models)."""
    annotation = _at(model, loc)[0]
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return []
    keys = list(annotation.model_fields)
    for field in annotation.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            keys += [c for c in field.validation_alias.choices if isinstance(c, str)]
    return keys


def _at(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[Any, list[Any]]:
    """The type at `loc` in `model`, found by following the fields' types, and the
    constraints on it (`Le(le=10)`); a mapping's key or a list's index in `loc` is stepped
    over, a tuple's index picks its item. (None, []) where the way is not plain."""
    annotation: Any = model
    metadata: list[Any] = []
    for part in loc:
        annotation = _unwrapped(annotation, metadata)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None, []
            annotation, metadata = field.annotation, list(field.metadata)
            continue
        args = get_args(annotation)
        if get_origin(annotation) is tuple and args[-1:] != (Ellipsis,):
            args = args[part : part + 1] if isinstance(part, int) else ()
        if not args:
            return None, []
        annotation, metadata = args[-1] if args[-1] is not Ellipsis else args[0], []
    return _unwrapped(annotation, metadata), metadata


def _bounds(at: tuple[Any, list[Any]]) -> tuple[str | None, str | None]:
    """The lowest and highest a number at a place may be (`>= 0`, `<= 1e+15`); None for a
    side with no bound."""
    low = high = None
    for constraint in at[1]:
        for name, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(constraint, name, None)
            if isinstance(value, int | float):
                said = f"{sign} {value:g}"
                low, high = (said, high) if sign[0] == ">" else (low, said)
    return low, high


def _unwrapped(annotation: Any, metadata: list[Any] | None = None) -> Any:
    """`X` from `Annotated[X, ...]` and from `X | None`; the constraints of the Annotated go
    into `metadata`."""
    kept = [] if metadata is None else metadata
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            for item in extra:
                kept.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        elif origin in (Union, types.UnionType):
            others = [a for a in get_args(annotation) if a is not type(None)]
            if len(others) != 1:
                return annotation
            annotation = others[0]
        else:
            return annotation
