"""Whatever the bytes or the structure of a config, an observations file or a trace, loading
it gives finite, bounded numbers or raises the one-line ConfigError: never another
exception, and never a hang (each example has a deadline)."""

from __future__ import annotations

import copy
import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.config import Config, ConfigError, load_config
from controller.core.config_types import MAX_COUNT
from controller.simulate.trace import load_trace
from controller.sources.observations_file import load_observations
from tests.support.strategies import examples

EXAMPLE = Path(__file__).parents[3] / "examples" / "agentdash.yaml"
CONFIG = load_config(EXAMPLE)
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
OBSERVATIONS: dict[str, Any] = json.loads(
    (Path(__file__).parents[3] / "examples" / "observations.json").read_text()
)
FUZZ = settings(
    max_examples=examples(150),
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**17, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 1e-9, 1e300, -0.0, True, False]),
)
scalars = st.one_of(
    numbers,
    st.none(),
    st.text(max_size=20),
    st.sampled_from(["", "a.b", "*", ">", "a b", "Acme", "-x", "nats://x:1", "10"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a mapping tree (lists by index)."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths(value, (*prefix, i))
    return found


CONFIG_PATHS = [*paths(BASE), ("nats",), ("prometheus",), ("pools", "acme-research", "fallback")]
OBSERVATION_PATHS = [*paths(OBSERVATIONS), ("now",), ("history",), ("pins", "acme-research")]


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    if isinstance(node, dict | list):
        node[path[-1]] = value
    return data


def bounded(value: Any) -> None:
    """Every number in a loaded model is finite and far from overflowing."""
    if isinstance(value, float):
        assert math.isfinite(value)
    if isinstance(value, int | float):
        assert abs(value) <= MAX_COUNT
    elif isinstance(value, dict):
        for item in value.values():
            bounded(item)
    elif isinstance(value, list | tuple):
        for item in value:
            bounded(item)


def one_line(error: ConfigError) -> None:
    assert "\n" not in str(error)
    assert len(str(error)) < 2000


def written(file: Path, content: str | bytes) -> Path:
    """The content in the file, as it is (lone surrogates too: a file may hold anything)."""
    if isinstance(content, str):
        content = content.encode("utf-8", errors="surrogatepass")
    file.write_bytes(content)
    return file


def load_config_text(tmp_path: Path, content: str | bytes) -> Config | None:
    file = written(tmp_path / "agentdash.yaml", content)
    try:
        config = load_config(file)
    except ConfigError as error:
        one_line(error)
        return None
    bounded(config.model_dump())
    return config


@FUZZ
@given(content=st.binary(max_size=2000))
def test_any_bytes_as_a_config(tmp_path: Path, content: bytes) -> None:
    load_config_text(tmp_path, content)


@FUZZ
@given(
    content=st.lists(
        st.sampled_from(["a", ":", " ", "\n", "-", "[", "]", "{", "}", ",", "&x", "*x", "!!int",
                         "<<", "'", '"', "#", "1", ".inf", "0x", "?", "|", ">", "\t", "~"]),
        max_size=200,
    ).map("".join)
)  # fmt: skip
def test_any_yaml_shaped_text_as_a_config(tmp_path: Path, content: str) -> None:
    load_config_text(tmp_path, content)


@FUZZ
@given(path=st.sampled_from(CONFIG_PATHS), value=values)
def test_any_value_at_any_field_of_the_config(tmp_path: Path, path: Any, value: Any) -> None:
    data = replaced(BASE, path, value)
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return  # not something a file can hold
    load_config_text(tmp_path, text)


@FUZZ
@given(content=st.one_of(st.binary(max_size=1000), st.text(max_size=300)))
def test_any_content_as_an_observations_file(tmp_path: Path, content: bytes | str) -> None:
    file = written(tmp_path / "obs.json", content)
    try:
        load_observations(file, CONFIG)
    except ConfigError as error:
        one_line(error)


@FUZZ
@given(path=st.sampled_from(OBSERVATION_PATHS), value=values)
def test_any_value_at_any_field_of_the_observations(tmp_path: Path, path: Any, value: Any) -> None:
    file = tmp_path / "obs.json"
    file.write_text(json.dumps(replaced(OBSERVATIONS, path, value)))  # NaN and Infinity too
    try:
        given_input = load_observations(file, CONFIG)
    except ConfigError as error:
        one_line(error)
        return
    assert math.isfinite(given_input.now)
    for observed in given_input.observations.pools.values():
        bounded([observed.pending, observed.ack_pending, observed.replicas, observed.ready])
        bounded([observed.arrival_rate or 0.0, observed.mean_task_seconds or 0.0])


task_lines = st.one_of(
    st.fixed_dictionaries(
        {"t": values, "pool": st.sampled_from([*CONFIG.pools, "nope", 1]), "work_s": values,
         "tokens": values}
    ).map(json.dumps),
    st.text(max_size=80),
    st.just('{"t": 1e9, "pool": "acme-research", "work_s": 1, "tokens": 1}'),
)  # fmt: skip


@FUZZ
@given(lines=st.lists(task_lines, max_size=6))
def test_any_lines_as_a_trace(tmp_path: Path, lines: list[str]) -> None:
    file = written(tmp_path / "trace.jsonl", "\n".join(lines))
    try:
        trace = load_trace(file, CONFIG)
    except ConfigError as error:
        one_line(error)
        return
    bounded([*trace.t, *trace.work_s, *trace.tokens])
    assert all(0 <= t <= 31 * 86_400 for t in trace.t)


@FUZZ
@given(content=st.binary(max_size=1000))
def test_any_bytes_as_a_trace(tmp_path: Path, content: bytes) -> None:
    file = written(tmp_path / "trace.jsonl", content)
    try:
        load_trace(file, CONFIG)
    except ConfigError as error:
        one_line(error)
