"""How a mistake in a file reads: one line, `file: field.path: what was expected` (or
`file:line: field.path: ...` where the line of the field is known).

`first_error` turns pydantic's first error into a field path and an expectation ("expected an
integer, got true"); values and keys are shown cut short and quoted where they would not read
plainly, so that no input, however long or odd, makes the line longer than a line.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ValidationError

from controller.core.printable import loggable

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

    def __repr__(self) -> str:
        return f"a {self.digits}-digit number"


class InvalidField(ValueError):
    """A semantic error raised from a validator, carrying its own field path."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(message)


class UnknownReference(InvalidField):
    def __init__(self, path: str, value: str, kind: str, known: Mapping[str, Any]) -> None:
        names = ", ".join(sorted(known)) or "none defined"
        super().__init__(path, f"expected one of the defined {kind}s ({names}), got {shown(value)}")


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
    if isinstance(value, TooLarge):
        return f"expected a number of at most {MAX_DIGITS} digits{got}"
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
    `model` validated, an unknown key close to one it allows says which it may have meant."""
    errors = exc.errors(include_url=False)
    error = errors[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InvalidField):
        return cause.path, cause.message
    loc = [part for part in error["loc"] if not str(part).startswith("function-")]
    message = _expectation(error)
    if error["type"] == "extra_forbidden" and model is not None and loc:
        close = _closest(str(loc[-1]), _keys_at(model, loc[:-1]))
        message += f" (did you mean {' or '.join(close)}?)" if close else ""
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return _dotted(loc[strip:]), message


def _closest(word: str, keys: list[str]) -> list[str]:
    """The allowed key nearest `word`, or the two that are equally near (`replicas`: min_ or
    max_replicas), if near enough to be a slip."""
    close = difflib.get_close_matches(word, keys, 2, 0.75)
    ratio = [difflib.SequenceMatcher(None, word, key).ratio() for key in close]
    return close[: 2 if len(close) == 2 and ratio[0] == ratio[1] else 1]


def _keys_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys allowed at `loc` in `model` (its names and their aliases), found by following
    the fields' types; a mapping's key or a list's index in `loc` is stepped over. None where
    the way is not plain (a union of models)."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrapped(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        else:  # dict[K, V] or list[V]: `part` is a key or an index
            args = get_args(annotation)
            if not args:
                return []
            annotation = args[-1]
    annotation = _unwrapped(annotation)
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return []
    keys = list(annotation.model_fields)
    for field in annotation.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            keys += [c for c in field.validation_alias.choices if isinstance(c, str)]
    return keys


def _unwrapped(annotation: Any) -> Any:
    """`X` from `Annotated[X, ...]` and from `X | None`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            others = [a for a in get_args(annotation) if a is not type(None)]
            if len(others) != 1:
                return annotation
            annotation = others[0]
        else:
            return annotation
