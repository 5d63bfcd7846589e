"""`agentdash import requests FILE --pool NAME`: the public LLM request logs' formats, as
published, become the trace `simulate` and `tune` replay, one task a request in time order;
a mistake is one line naming the file, the line and the field, exit 2, nothing on stdout."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import AGENTDASH, ROOT
from tests.support.request_logs import import_requests as run
from tests.support.request_logs import tasks, written

AZURE_CODE = ROOT / "benchmarks" / "traces" / "AzureLLMInferenceTrace_code.csv"
FLEET = """
tiers: {standard: {priority: 100}}
tenants: {acme: {tier: standard}}
pools:
  coder:
    tenant: acme
    deployment: {namespace: agents, name: coder}
    queue: {stream: AGENT_TASKS, consumer: coder}
    max_replicas: 60
"""


def test_an_azure_log_counts_from_its_first_days_midnight_and_says_the_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = written(
        tmp_path,
        "azure.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:17:03.9799600,4808,10\n"
        "2023-11-16 18:17:02.5000000,1000,25\n"  # out of order: printed first
        "2023-11-17 00:00:01.000000+00:00,0,0\n",  # the 2024 trace's form, with its zone
    )
    code, out, err = run(capsys, log, "--pool", "coder")
    assert code == 0
    assert tasks(out) == [
        {"t": 65822.5, "pool": "coder", "work_s": 2.0, "tokens": 1025},
        {"t": 65823.97996, "pool": "coder", "work_s": 5.208, "tokens": 4818},
        {"t": 86401.0, "pool": "coder", "work_s": 0.01, "tokens": 0},  # at least 10 ms
    ]
    assert err == [
        f"{log}: 3 requests (azure) as pool coder's tasks, 5.7 h; t = 0 is 2023-11-16 "
        "00:00 UTC (simulate and tune: --start 2023-11-16)",
        f"{log}: 1 request with no completion tokens kept, as tasks of their prompt alone",
    ]


def test_burstgpt_mooncake_and_bailian_logs_count_from_their_own_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    burstgpt = written(
        tmp_path,
        "burst.csv",
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "5,ChatGPT,472,18,490,Conversation log\n"
        "45.5,GPT-4,1087,230,1317,API log\n",
    )
    mooncake = written(
        tmp_path,
        "moon.jsonl",
        '{"timestamp": 3000, "input_length": 2000, "output_length": 50, "hash_ids": [1, 2]}\n'
        '{"timestamp": 0, "input_length": 500, "output_length": 0, "hash_ids": []}\n',
    )
    bailian = written(
        tmp_path,
        "qwen.jsonl",
        '{"chat_id": 1, "parent_chat_id": -1, "timestamp": 61.114, "input_length": 521, '
        '"output_length": 132, "type": "text", "turn": 1, "hash_ids": [7]}\n',
    )
    code, out, _ = run(capsys, burstgpt, "--pool", "chat", "--decode-rate", "50")
    assert code == 0
    assert [(t["t"], t["work_s"], t["tokens"]) for t in tasks(out)] == [
        (5.0, 0.832, 490),
        (45.5, 5.687, 1317),
    ]
    code, out, err = run(capsys, mooncake, "--pool", "chat")
    assert code == 0
    assert [(t["t"], t["work_s"], t["tokens"]) for t in tasks(out)] == [
        (0.0, 0.5, 500),
        (3.0, 4.0, 2050),  # milliseconds
    ]
    assert "(mooncake)" in err[0]
    assert "--start" not in err[0]
    code, out, err = run(capsys, bailian, "--pool", "chat", "--prefill-rate", "521")
    assert code == 0
    assert tasks(out) == [{"t": 61.114, "pool": "chat", "work_s": 6.28, "tokens": 653}]
    assert err[0].startswith(f"{bailian}: 1 request (bailian) as pool chat's tasks")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "line 1: expected a request log: a CSV with the columns TIMESTAMP,"),
        ("t,tokens\n1,2\n", "line 1: expected a request log"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n", "expected at least one request, got none"),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,2\n",
            "line 2: TIMESTAMP: expected a date and time like 2023-11-16 18:17:03.9799600, "
            "got 'yesterday'",
        ),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 10:00:00,1,2\n"
            "2023-12-17 00:00:01,1,2\n",
            "line 3: TIMESTAMP: expected a time within 31 days of the log's first day (a trace's "
            "longest), in a log of 32 days: import 31 days or fewer of it at a time, with --days "
            "(and --from-day)",
        ),
        pytest.param(  # printed --start 2150-11-16, which simulate and tune then refused
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2150-11-16 10:00:00,1,2\n",
            "line 2: TIMESTAMP: expected a date and time from 1970-01-01 to 2099-12-31 UTC "
            "(the days simulate --start takes), got '2150-11-16 10:00:00'",
            id="a date after the days --start takes",
        ),
        pytest.param(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n1969-12-31 23:00:00,1,2\n",
            "line 2: TIMESTAMP: expected a date and time from 1970-01-01 to 2099-12-31 UTC",
            id="a date before the days --start takes",
        ),
        pytest.param(  # a time zone took it past year 1 or 9999: was an OverflowError's traceback
            "TIMESTAMP,ContextTokens,GeneratedTokens\n0001-01-01 00:00:00+05:00,1,2\n",
            "line 2: TIMESTAMP: expected a date and time from 1970-01-01 to 2099-12-31 UTC "
            "(the days simulate --start takes), got '0001-01-01 00:00:00+05:00'",
            id="a date and zone before year 1",
        ),
        pytest.param(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 10:00:00,1,2\n"
            "9999-12-31 23:00:00-05:00,1,2\n",
            "line 3: TIMESTAMP: expected a date and time from 1970-01-01 to 2099-12-31 UTC",
            id="a later row's date and zone after year 9999",
        ),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 10:00:00,1.5,2\n",
            "line 2: ContextTokens: expected a whole number of tokens, 0 to 1,000,000,000, "
            "got '1.5'",
        ),
        pytest.param(  # was a _csv.Error's traceback
            "TIMESTAMP,ContextTokens,GeneratedTokens\r2023-11-16 10:00:00,1,2\r",
            "line 1: expected lines ending in LF or CRLF, got a carriage return (CR) inside one",
            id="lines ending in CR alone",
        ),
        pytest.param(
            'Timestamp,Model,Request tokens,Response tokens\n5,GPT\r-4,"1",2\n',
            "line 2: expected lines ending in LF or CRLF, got a carriage return (CR) inside one",
            id="a CR in a row with quotes",
        ),
        pytest.param(  # a digit to str.isdigit, not to int(): was a ValueError's traceback
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 10:00:00,1\u00b2,2\n",
            "line 2: ContextTokens: expected a whole number of tokens, 0 to 1,000,000,000, "
            "got '1\u00b2'",
            id="a superscript digit",
        ),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 10:00:00,1\n",
            "line 2: expected 3 fields, as the header has, got 2",
        ),
        (
            "Timestamp,Model,Request tokens,Response tokens\nnan,x,1,2\n",
            "line 2: Timestamp: expected seconds from the log's start, or since 1970 (a Unix "
            "time, before 2100), 0 to 4,102,444,800, got 'nan'",
        ),
        (
            '{"timestamp": 1, "input_length": 1, "output_length": 1}\n[1, 2]\n',
            "line 2: expected a JSON object, got '[1, 2]'",
        ),
        (
            '{"timestamp": true, "input_length": 1, "output_length": 1}\n',
            "line 1: timestamp: expected a number, got true",
        ),
        (
            '{"timestamp": 1e300, "input_length": 1, "output_length": 1}\n',
            "line 1: timestamp: expected milliseconds from the log's start, or since 1970 (a "
            "Unix time, before 2100), 0 to 4,102,444,800,000, got 1e+300",
        ),
        (
            '{"timestamp": 1, "input_length": -1, "output_length": 1}\n',
            "line 1: input_length: expected a whole number of tokens, 0 to 1,000,000,000, got -1",
        ),
        pytest.param(  # deeper than json.loads can follow: was a RecursionError's traceback
            '{"timestamp": 1000, "input_length": 10, "output_length": 20, "x": '
            + "[" * 1000
            + "]" * 1000
            + "}\n",
            'line 1: expected a flat JSON object like {"timestamp": 61.1, "input_length": '
            '521, "output_length": 132}, got one nested too deep to read',
            id="nested too deep on the line that tells the format",
        ),
        pytest.param(
            '{"timestamp": 1, "input_length": 1, "output_length": 1}\n'
            '{"timestamp": 2, "x": ' + '{"y": ' * 1000 + "1" + "}" * 1000 + "}\n",
            "line 2: expected a flat JSON object like",
            id="nested too deep on a later line",
        ),
        pytest.param(  # the last one was kept
            '{"timestamp": 1, "input_length": 10, "output_length": 20, "input_length": 99999}\n',
            "line 1: expected each key once in an object, got 'input_length' twice",
            id="a key twice on the line that tells the format",
        ),
        pytest.param(
            '{"timestamp": 1, "input_length": 1, "output_length": 1}\n'
            '{"timestamp": 2, "input_length": 1, "output_length": 1, "output_length": 5}\n',
            "line 2: expected each key once in an object, got 'output_length' twice",
            id="a key twice on a later line",
        ),
        pytest.param(  # the last one was kept
            "TIMESTAMP,ContextTokens,GeneratedTokens,ContextTokens\n2023-11-16 10:00:00,1,2,3\n",
            "line 1: expected each column once in the header, got 'ContextTokens' twice",
            id="an Azure column twice",
        ),
        pytest.param(
            "Timestamp,Request tokens,Response tokens,Model,Model\n5,1,2,a,b\n",
            "line 1: expected each column once in the header, got 'Model' twice",
            id="a BurstGPT column twice",
        ),
        pytest.param(  # too large for a float: was an OverflowError's traceback
            '{"timestamp": 1' + "0" * 400 + ', "input_length": 1, "output_length": 1}\n',
            "line 1: timestamp: expected milliseconds from the log's start, or since 1970 (a "
            "Unix time, before 2100), 0 to 4,102,444,800,000, got a 401-digit number",
            id="a timestamp of 401 digits",
        ),
        (
            '{"timestamp": 1, "input_length": 1000000000, "output_length": 1}\n',
            "line 1: expected a request a worker finishes within a day, got 1,000,000 s at "
            "these rates",
        ),
    ],
)
def test_a_mistake_is_one_line_naming_the_file_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, said: str
) -> None:
    log = written(tmp_path, "log.txt", text)
    code, out, err = run(capsys, log, "--pool", "chat")
    assert (code, out) == (2, "")
    assert len(err) == 1
    assert err[0].startswith(f"agentdash: {log}: {said}")


def test_a_line_too_long_or_not_utf8_is_refused_without_reading_it_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    endless = written(tmp_path, "endless.jsonl", "{" + " " * (2 << 20))
    code, out, err = run(capsys, endless, "--pool", "chat")
    assert (code, out) == (2, "")
    assert err == [
        f"agentdash: {endless}: line 1: expected a request a line of at most 1,048,576 "
        "characters; got a longer line"
    ]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 10:00:00,1,\xe9\n")
    code, out, err = run(capsys, latin, "--pool", "chat")
    # its line and byte, as a trace's: it was only 'expected UTF-8 text'
    assert (code, out) == (2, "")
    assert err == [f"agentdash: {latin}: line 2: expected UTF-8 text, got byte 0xe9"]
    packed = tmp_path / "azure.csv.gz"
    packed.write_bytes(gzip.compress(b"TIMESTAMP,ContextTokens,GeneratedTokens\n"))
    code, out, err = run(capsys, packed, "--pool", "chat")
    assert (code, out) == (2, "")
    assert err == [
        f"agentdash: {packed}: line 1: expected UTF-8 text, got byte 0x8b (gzip data: "
        "decompress it first)"
    ]


def test_the_pool_must_be_a_pool_name_and_the_rates_a_token_in_100_s_or_faster(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, AZURE_CODE, "--pool", "Code Pool")
    assert code == 2
    assert "--pool: expected a pool name of 1-63 lowercase letters a-z" in err[-1]
    code, _, err = run(capsys, AZURE_CODE, "--pool", "code", "--decode-rate", "0")
    assert code == 2
    assert "--decode-rate: expected a number >= 0.01 and <= 1000000000, got '0'" in err[-1]
    # said of the flag, not of the first request's time in a number of 300 digits
    for flag in ("--decode-rate", "--prefill-rate"):
        code, out, err = run(capsys, AZURE_CODE, "--pool", "code", flag, "1e-300")
        assert (code, out, len(err)) == (2, "", 1)
        assert err[0].endswith(f"{flag}: expected a number >= 0.01 and <= 1000000000, got '1e-300' "
                               "(see agentdash import requests --help)")  # fmt: skip


def test_a_terminal_is_refused_rather_than_waited_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    code, out, err = run(capsys, "-", "--pool", "chat")
    assert (code, out) == (2, "")
    assert err == ["agentdash: standard input: expected a request log piped in (-), got a terminal"]


@pytest.mark.e2e
def test_the_azure_code_hour_piped_into_simulate_replays_every_request(
    tmp_path: Path,
) -> None:
    imported = subprocess.run(
        [AGENTDASH, "import", "requests", str(AZURE_CODE), "--pool", "coder"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert len(imported.stdout.splitlines()) == 8819
    config = written(tmp_path, "fleet.yaml", FLEET)
    replay = subprocess.run(
        [AGENTDASH, "simulate", "--config", str(config), "--trace", "-", "--json",
         "--policy", "agentdash", "--start", "2023-11-16", "--drain", "86400"],
        input=imported.stdout, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    replayed = json.loads(replay.stdout)["policies"]["agentdash"]
    assert (replayed["completed"], replayed["pending"]) == (8819, 0)
