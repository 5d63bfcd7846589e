"""How the config files' YAML reads its scalars: numbers and booleans as JSON would, so that
what a person writes is what the fields are told (controller.core.input_files)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.resolver import Resolver

from controller.core.config_errors import TooLarge


def kind_of(value: Any) -> str:
    """What YAML read a scalar as, for an error that says why it is not a name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, TooLarge)):
        return "a number"
    return f"a {type(value).__name__}"


def read_scalars_as_json_does(loader: type[Resolver]) -> None:
    """YAML 1.1 reads `030` as octal 24, `0x18` as 24, `17:30` as 1050, `+5` as 5 and `1_0` as
    10, and `1e3` as a string. Here a number is one that JSON would read: `-?` then `0` or
    digits not starting with 0, then an optional fraction and exponent, each with at least
    one digit (and .inf, .nan, which the fields refuse by name). Anything else is a string,
    which a number field refuses with its name and the text as written; and a time of day may
    go unquoted. Booleans likewise are YAML 1.2's, `true` and `false` (or True, FALSE): YAML 1.1
    also reads `yes`, `no`, `on` and `off` as booleans, so a tenant or tier named `no` would be
    false, and `hard_cap: off` a boolean no one wrote as one."""
    resolvers = {
        first: [(tag, regexp) for tag, regexp in found if tag not in (_INT, _FLOAT, _BOOL)]
        for first, found in loader.yaml_implicit_resolvers.items()
    }
    loader.yaml_implicit_resolvers = {first: found for first, found in resolvers.items() if found}
    loader.add_implicit_resolver(_INT, re.compile(r"^-?(?:0|[1-9][0-9]*)$"), list("-0123456789"))
    loader.add_implicit_resolver(
        _FLOAT,
        re.compile(
            r"^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )
    loader.add_implicit_resolver(
        _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )


_INT, _FLOAT, _BOOL = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"


class ConfigDumper(yaml.SafeDumper):
    """YAML that agentdash reads back as it was written, and so does YAML 1.1: a string that
    either reads as something else is quoted. yaml.safe_dump quotes only what YAML 1.1 reads
    otherwise (`on`, `12:30`), and wrote a stream named `1e3` plain, which agentdash then read
    as the number 1000.0."""


for _tag, _regexp, _first in (
    (_INT, r"^-?(?:0|[1-9][0-9]*)$", "-0123456789"),
    (_FLOAT, r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$", "-0123456789"),
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
):
    ConfigDumper.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


def dump_config(data: Any, **options: Any) -> str:
    """`data` as YAML (yaml.dump's options), every string quoted that would not read back as
    that string."""
    return str(yaml.dump(data, Dumper=ConfigDumper, **options))
