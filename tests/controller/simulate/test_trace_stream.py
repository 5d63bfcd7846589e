"""The trace file read as a stream, a chunk of lines at a time, into columns: the same tasks in
the same order as reading it whole, line by line, and sorting; bad lines named as before,
wherever they fall; and memory for the columns, not for the file."""

from __future__ import annotations

import io
import json
import os
import random
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import controller.simulate.trace as trace_module
from controller import accel
from controller.core.config import Config, ConfigError, load_config
from controller.simulate.generate import SHAPES, generate
from controller.simulate.trace import CHUNK, Trace, load_trace, parse_trace, write_trace
from tests.support.pipes import fed, finished
from tests.support.strategies import examples

EXAMPLES = Path(__file__).parents[3] / "examples"
CONFIG = load_config(EXAMPLES / "agentdash.yaml")
Task = tuple[float, int, float, int]


def read_whole(lines: list[str], config: Config) -> list[Task]:
    """What a trace file holds, read the plain way: every line parsed, then a stable sort by
    arrival (tasks arriving together keep their file order)."""
    index = {name: i for i, name in enumerate(config.pools)}
    rows = [json.loads(line) for line in lines if line.strip()]
    tasks = [(float(r["t"]), index[r["pool"]], float(r["work_s"]), r["tokens"]) for r in rows]
    return sorted(tasks, key=lambda task: task[0])


def tasks_of(trace: Trace) -> list[Task]:
    return list(zip(trace.t, trace.pool, trace.work_s, trace.tokens, strict=True))


def written(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def lines_of(trace: Trace) -> list[str]:
    """The trace as `agentdash simulate --generate` writes it."""
    out = io.StringIO()
    write_trace(trace, out)
    return out.getvalue().splitlines()


def test_the_bundled_trace_loads_as_read_whole() -> None:
    config = load_config(EXAMPLES / "backtest.yaml")
    path = EXAMPLES / "trace.jsonl"
    trace = load_trace(path, config)
    assert len(trace) > CHUNK  # several chunks
    assert tasks_of(trace) == read_whole(path.read_text().splitlines(), config)
    assert all(type(t) is float for t in trace.t)
    assert trace.pools == tuple(config.pools)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_generated_trace_reads_back_the_same_in_order_or_shuffled(
    tmp_path: Path, shape: str
) -> None:
    generated = generate(CONFIG, shape, 4.0, seed=3, tasks=5 * CHUNK)
    lines = lines_of(generated)
    assert load_trace(written(tmp_path / "ordered.jsonl", lines), CONFIG) == generated

    random.Random(3).shuffle(lines)
    for at in (7, CHUNK, 3 * CHUNK):  # blank lines count as lines, not tasks
        lines.insert(at, "")
    loaded = load_trace(written(tmp_path / "shuffled.jsonl", lines), CONFIG)
    assert tasks_of(loaded) == read_whole(lines, CONFIG)
    assert sorted(tasks_of(loaded)) == sorted(tasks_of(generated))  # nothing lost or added


def test_tasks_arriving_together_keep_their_file_order_across_chunks() -> None:
    # Ten tasks at each of a few times, written latest first, each told apart by its tokens.
    lines = [
        json.dumps({"t": t, "pool": "acme-research", "work_s": 1, "tokens": n})
        for t in (300, 200, 100)
        for n in range(CHUNK)
    ]
    trace = parse_trace(lines, CONFIG)
    assert list(trace.t) == [100.0] * CHUNK + [200.0] * CHUNK + [300.0] * CHUNK
    assert list(trace.tokens) == list(range(CHUNK)) * 3


tasks = st.tuples(
    st.one_of(st.sampled_from([0, 5, 5.5, 60]), st.floats(0, 120)),  # ties, ints and floats
    st.sampled_from(list(CONFIG.pools)),
    st.floats(0.001, 1000),
    st.integers(0, 10**12),
)


@settings(max_examples=examples(60), deadline=None)
@given(rows=st.lists(tasks, max_size=40), blanks=st.lists(st.integers(0, 40), max_size=4))
def test_any_valid_lines_in_any_order_and_chunk_size_read_as_read_whole(
    rows: list[tuple[float, str, float, int]], blanks: list[int]
) -> None:
    lines = [json.dumps({"t": t, "pool": p, "work_s": w, "tokens": n}) for t, p, w, n in rows]
    for at in blanks:
        lines.insert(at, " ")
    for chunk in (1, 3, CHUNK):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(trace_module, "CHUNK", chunk)
            assert tasks_of(parse_trace(lines, CONFIG)) == read_whole(lines, CONFIG)


GOOD = '{"t": 0, "pool": "acme-research", "work_s": 1, "tokens": 1}'
BAD = [
    ("{not json", "expected a JSON object: Expecting property name enclosed"),
    ('{"t": 1, "pool": "nope", "work_s": 1, "tokens": 1}',
     "pool: expected one of the config's pools (acme-research, "),
    ('{"t": 1, "pool": "acme-research", "work_s": -3, "tokens": 1}',
     "work_s: expected a number > 0, got -3"),
    ('{"t": 1, "pool": "acme-research", "work_s": 1}', "tokens: required field is missing"),
    ('{"t": NaN, "pool": "acme-research", "work_s": 1, "tokens": 1}',
     "t: expected a number >= 0, got nan"),
    ('{"t": 1, "pool": "acme-research", "work_s": 1, "tokens": 1e3}',
     "tokens: expected an integer >= 0, got 1000.0"),
    ('{"t": 1, "pool": "acme-research", "work_s": 1, "tokens": 1} {"t": 2}',
     "expected one JSON object a line, got more at column 61"),
    ('{"t": 1, "pool": "acme-research", "work_s": 1, "tokens": 1, "tenant": "acme"}',
     "tenant: unknown key (expected t, pool, work_s, tokens)"),
    ('{"t": ' + "[" * 2_000 + "]" * 2_000 + "}", "expected a flat JSON object like {"),
    ('{"t": 1, "pool": "acme-research", "work_s": 1, "tokens": 1, "t": 999}',
     "expected each key once in an object, got 't' twice"),
    ('{"t": 1, "pool": "acme-research", "pool": "acme-support", "work_s": 1, "tokens": 1}',
     "expected each key once in an object, got 'pool' twice"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "message"), BAD, ids=[m[:24] for _, m in BAD])
@pytest.mark.parametrize("number", [1, CHUNK, CHUNK + 1, 3 * CHUNK - 1])
def test_a_bad_line_is_named_wherever_it_falls_in_the_file(
    tmp_path: Path, line: str, message: str, number: int
) -> None:
    lines = [GOOD] * (3 * CHUNK)
    lines[number // 2] = ""  # a blank line before it is still counted (after it, for line 1)
    lines[number - 1] = line
    path = written(tmp_path / "bad.jsonl", lines)
    with pytest.raises(ConfigError) as caught:
        load_trace(path, CONFIG)
    assert str(caught.value).startswith(f"{path}: line {number}: {message}")
    assert "\n" not in str(caught.value)


def test_a_named_pipe_that_is_not_utf8_is_one_line_without_waiting_on_it(tmp_path: Path) -> None:
    """The line of a byte that is not UTF-8 was found by reading the file again: a named pipe,
    read to its end already, was opened again, which waits for a writer that never comes."""
    pipe = tmp_path / "trace.pipe"
    os.mkfifo(pipe)
    writer = fed(pipe, (GOOD + "\n").encode() + b'{"pool": "caf\xe9"}\n')

    done, outcome = finished(lambda: load_trace(pipe, CONFIG), pipe)

    writer.join()
    assert done
    assert isinstance(outcome, ConfigError)
    assert str(outcome) == f"{pipe}: expected UTF-8 text, got byte 0xe9"


def test_a_file_that_is_not_utf8_further_on_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(((GOOD + "\n") * 3 * CHUNK).encode() + b'{"pool": "caf\xe9"}\n')
    line = 3 * CHUNK + 1  # past the chunks read: the line is found again from the bytes
    with pytest.raises(ConfigError) as caught:
        load_trace(path, CONFIG)
    assert str(caught.value) == f"{path}: line {line}: expected UTF-8 text, got byte 0xe9"


@pytest.fixture(scope="module")
def day_of_tasks() -> tuple[Trace, tuple[str, ...]]:
    """60,000 tasks (enough that one chunk is small beside the columns) and their lines: made
    once, read by both orders (a tuple, so that no test changes it for the other)."""
    generated = generate(CONFIG, "bursty", 24.0, seed=5, tasks=60_000)
    return generated, tuple(lines_of(generated))


@pytest.mark.parametrize("shuffled", [False, True])
def test_loading_holds_the_columns_not_the_file(
    tmp_path: Path, shuffled: bool, day_of_tasks: tuple[Trace, tuple[str, ...]]
) -> None:
    """A task kept is 28 bytes (two doubles, an int and a long long); reading the file as a
    list of lines and a dict a task held 530 bytes a task at its peak."""
    generated, made = day_of_tasks
    lines = list(made)
    if shuffled:
        random.Random(5).shuffle(lines)
    path = written(tmp_path / "trace.jsonl", lines)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        trace = load_trace(path, CONFIG)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(tasks_of(trace)) == sorted(tasks_of(generated))
    assert (kept - before) / len(trace) < 32
    # in order: the columns and one chunk; shuffled: also the sort's index and keys
    assert (peak - before) / len(trace) < (130 if shuffled else 60)


def test_a_compiled_build_from_before_the_trace_changed_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled cluster checks the type of the trace's columns: a build made for other
    columns would raise TypeError on every trace, so it counts as stale."""
    monkeypatch.setattr(accel, "BUILD", tmp_path)
    sources = accel._hashes()
    sources.pop("controller/simulate/trace.py", None)  # a stamp that did not cover it
    stamp = {"python": sys.implementation.cache_tag, "sources": sources}
    (tmp_path / "stamp.json").write_text(json.dumps(stamp))
    assert not accel.built()
    stamp["sources"] = accel._hashes() | {"controller/simulate/trace.py": "0" * 64}
    (tmp_path / "stamp.json").write_text(json.dumps(stamp))
    assert not accel.built()
