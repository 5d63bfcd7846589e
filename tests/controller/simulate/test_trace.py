"""The trace file: JSON lines in, columns out, and one clear line for any bad line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from controller.core.config import ConfigError, load_config
from controller.simulate.trace import load_trace, parse_trace, write_trace

EXAMPLE = Path(__file__).parents[3] / "examples" / "agentdash.yaml"
CONFIG = load_config(EXAMPLE)


def test_tasks_are_sorted_by_arrival_keeping_file_order_for_ties() -> None:
    lines = [
        '{"t": 30, "pool": "globex-coder", "work_s": 5, "tokens": 10}',
        "",
        '{"t": 10.5, "pool": "acme-research", "work_s": 40.5, "tokens": 3000}',
        '{"t": 30, "pool": "acme-support", "work_s": 1, "tokens": 0}',
    ]
    trace = parse_trace(lines, CONFIG, "t.jsonl")
    assert trace.t == [10.5, 30.0, 30.0]
    assert [trace.pools[p] for p in trace.pool] == ["acme-research", "globex-coder", "acme-support"]
    assert trace.work_s == [40.5, 5.0, 1.0]
    assert trace.tokens == [3000, 10, 0]
    assert trace.duration == 30.0


def test_a_written_trace_reads_back_the_same() -> None:
    lines = [
        '{"t": 0.25, "pool": "initech-summarize", "work_s": 12.5, "tokens": 700}',
        '{"t": 7, "pool": "globex-triage", "work_s": 3, "tokens": 5}',
    ]
    trace = parse_trace(lines, CONFIG)
    out = io.StringIO()
    write_trace(trace, out)
    assert parse_trace(out.getvalue().splitlines(), CONFIG) == trace


def test_a_trace_saved_with_a_byte_order_mark_reads_as_without(tmp_path: Path) -> None:
    """Editors on Windows start a UTF-8 file with a BOM; a config may have one, so may a trace."""
    line = '{"t": 7, "pool": "globex-triage", "work_s": 3, "tokens": 5}\n'
    plain, marked = tmp_path / "plain.jsonl", tmp_path / "marked.jsonl"
    plain.write_text(line, encoding="utf-8")
    marked.write_text(line, encoding="utf-8-sig")
    assert marked.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_trace(marked, CONFIG) == load_trace(plain, CONFIG)


def test_two_traces_joined_with_their_byte_order_marks_are_refused_in_words(
    tmp_path: Path,
) -> None:
    """`cat a.jsonl b.jsonl`, each saved with a BOM, puts the second one at the start of a
    line: it was refused with json's advice to Python, '(decode using utf-8-sig)'."""
    line = '{"t": 7, "pool": "globex-triage", "work_s": 3, "tokens": 5}\n'
    joined = tmp_path / "joined.jsonl"
    joined.write_bytes(line.encode("utf-8-sig") * 2)
    with pytest.raises(ConfigError) as caught:
        load_trace(joined, CONFIG)
    assert str(caught.value) == (
        f"{joined}: line 2: expected a JSON object, got a byte order mark (U+FEFF) before it:"
        " files joined together, each saved with one? remove it"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "t.jsonl: line 2: expected a JSON object: Expecting property name enclosed"),
        ("[1, 2]", "t.jsonl: line 2: expected a JSON object like {"),
        (
            '{"t": 1, "pool": "nope", "work_s": 1, "tokens": 1}',
            "t.jsonl: line 2: pool: expected one of the config's pools (acme-research, "
            "acme-support, globex-coder, globex-triage, initech-summarize), got 'nope'",
        ),
        (
            '{"t": 1, "pool": "acme-research", "work_s": -3, "tokens": 1}',
            "t.jsonl: line 2: work_s: expected a number > 0, got -3",
        ),
        (
            '{"t": true, "pool": "acme-research", "work_s": 1, "tokens": 1}',
            "t.jsonl: line 2: t: expected a number >= 0, got true",
        ),
        (
            '{"t": 1, "pool": "acme-research", "work_s": 1, "tokens": 2.5}',
            "t.jsonl: line 2: tokens: expected an integer >= 0, got 2.5",
        ),
        (
            '{"t": 1, "pool": "acme-research", "work_s": 1}',
            "t.jsonl: line 2: tokens: required field is missing",
        ),
        (
            '{"t": 1, "pool": "acme-research", "work_s": 1, "tokens": 1, "tenant": "acme"}',
            "t.jsonl: line 2: tenant: unknown key (expected t, pool, work_s, tokens)",
        ),
        (
            '{"t": 1, "pool": "acme-research", "work_s": 1, "tenant": "acme"}',
            "t.jsonl: line 2: tenant: unknown key (expected t, pool, work_s, tokens)",
        ),
        (
            '{"t": NaN, "pool": "acme-research", "work_s": 1, "tokens": 1}',
            "t.jsonl: line 2: t: expected a number >= 0, got nan",
        ),
        (
            '{"t": 1, "pool": "acme-research", "work_s": Infinity, "tokens": 1}',
            "t.jsonl: line 2: work_s: expected a number > 0, got inf",
        ),
        (
            '{"t": 1, "pool": ["acme-research"], "work_s": 1, "tokens": 1}',
            "t.jsonl: line 2: pool: expected one of the config's pools",
        ),
        ('"acme-research"', "t.jsonl: line 2: expected a JSON object like {"),
        pytest.param(
            '{"t": 1, "pool": "acme-research", "work_s": 1, "tokens": ' + "9" * 5000 + "}",
            "t.jsonl: line 2: tokens: expected a number <= 1e+15, got a 5000-digit number",
            id="tokens of 5000 digits",
        ),
        (
            '{"t": 1, "pool": "acme-research", "work_s": 1, "tokens": 1, "a\\nb": 1}',
            "t.jsonl: line 2: 'a\\nb': unknown key (expected t, pool, work_s, tokens)",
        ),
    ],
)
def test_a_bad_line_names_the_file_the_line_and_the_field(line: str, message: str) -> None:
    good = '{"t": 0, "pool": "acme-research", "work_s": 1, "tokens": 1}'
    with pytest.raises(ConfigError) as caught:
        parse_trace([good, line], CONFIG, "t.jsonl")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_byte_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    """Latin-1 from an old export: the line holding the byte, not only that one is wrong."""
    good = '{"t": 0, "pool": "acme-research", "work_s": 1, "tokens": 1}\n'
    file = tmp_path / "t.jsonl"
    file.write_bytes((good * 3 + '{"t": 1, "pool": "café"}\n' + good).encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_trace(file, CONFIG)
    assert str(caught.value) == f"{file}: line 4: expected UTF-8 text, got byte 0xe9"


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(ConfigError, match=r"nope\.jsonl: cannot read file: No such file"):
        load_trace(missing, CONFIG)


def test_a_file_of_one_endless_line_is_refused_at_its_start(tmp_path: Path) -> None:
    """A JSON array of every task on one line (or /dev/zero) is one line, not memory."""
    good = '{"t": 0, "pool": "acme-research", "work_s": 1, "tokens": 1}\n'
    file = tmp_path / "t.jsonl"
    file.write_text(good + "[" + ", ".join([good.strip()] * 100_000) + "]\n")
    with pytest.raises(ConfigError) as caught:
        load_trace(file, CONFIG)
    assert str(caught.value) == (
        f"{file}: line 2: expected JSON lines, one task a line of at most 4,096 characters;"
        " got a longer line"
    )


def test_a_line_of_just_the_most_characters_reads(tmp_path: Path) -> None:
    line = '{"t": 0, "pool": "acme-research", "work_s": 1, "tokens": 1}'
    file = tmp_path / "t.jsonl"
    file.write_text(line + " " * (4096 - len(line)) + "\n" + line)
    assert len(load_trace(file, CONFIG)) == 2
