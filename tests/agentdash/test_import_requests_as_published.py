"""`agentdash import requests` on logs as the public datasets publish them and operators keep
them: columns reordered among others, rows out of order, months of BurstGPT, its latencies
and its failures, Unix times, and millions of rows in little memory."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import pytest

from tests.support.request_logs import import_requests, tasks, written

BURSTGPT = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
BURSTGPT_3 = (  # its later files: a session and each request's own latency
    "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
)


def test_an_azure_log_is_read_by_its_columns_names_in_any_order_among_others(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Refused at its header ('expected a request log') unless TIMESTAMP came first; a
    spreadsheet's empty rows at the end were refused as a TIMESTAMP of ''."""
    log = written(
        tmp_path,
        "azure.csv",
        b'\xef\xbb\xbf"Region","ContextTokens","TIMESTAMP","GeneratedTokens"\r\n'
        b'"eu","4808","2023-11-16 18:17:03.9799600","10"\r\n'
        b'us,3180,2023-11-16 18:17:04.0319600,8\r\n\r\n,,,\r\n"",,,\r\n',
    )
    code, out, err = import_requests(capsys, log, "--pool", "coder")
    assert (code, err[-1]) == (0, err[0])
    assert tasks(out) == [
        {"t": 65823.97996, "pool": "coder", "work_s": 5.208, "tokens": 4818},
        {"t": 65824.03196, "pool": "coder", "work_s": 3.5, "tokens": 3188},
    ]


def test_daily_files_joined_by_cat_are_one_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Each file's header, byte order mark and all, was refused mid-log as a TIMESTAMP of
    'TIMESTAMP'; a JSON line after a byte order mark as no JSON object."""
    header = b"\xef\xbb\xbfTIMESTAMP,ContextTokens,GeneratedTokens\r\n"
    log = written(
        tmp_path,
        "week.csv",
        header
        + b"2024-05-10 23:59:59.5+00:00,100,10\r\n"
        + header
        + b"2024-05-11 00:00:00.25+00:00,200,20\r\n",
    )
    code, out, err = import_requests(capsys, log, "--pool", "coder")
    assert code == 0, err
    assert [(t["t"], t["tokens"]) for t in tasks(out)] == [(86_399.5, 110), (86_400.25, 220)]
    hour = '\ufeff{"timestamp": 0, "input_length": 1000, "output_length": 25}\n'
    log = written(tmp_path, "hours.jsonl", hour + hour.replace(": 0,", ": 3600000,"))
    code, out, err = import_requests(capsys, log, "--pool", "kimi")
    assert code == 0, err
    assert [t["t"] for t in tasks(out)] == [0.0, 3600.0]


def test_an_azure_log_out_of_order_counts_from_the_midnight_before_its_earliest_row(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A row before the first row's day was refused ('sort the log by time')."""
    log = written(
        tmp_path,
        "azure.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-05-12 00:00:00.001163+00:00,1452,3\n"
        "2024-05-12 00:00:00+00:00,584,3\n"
        "2024-05-12T07:59:59.5+08:00,10,1\n",  # 2024-05-11 23:59:59.5 UTC
    )
    code, out, err = import_requests(capsys, log, "--pool", "chat")
    assert code == 0
    assert [(t["t"], t["tokens"]) for t in tasks(out)] == [
        (86399.5, 11),
        (86400.0, 587),
        (86400.001163, 1455),
    ]
    assert err[0].endswith("t = 0 is 2024-05-11 00:00 UTC (simulate and tune: --start 2024-05-11)")


def test_burstgpts_elapsed_time_is_each_requests_work_where_it_has_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The log's own latency was ignored for an estimate from tokens."""
    log = written(
        tmp_path,
        "BurstGPT_3.csv",
        BURSTGPT_3 + "5,s1,3.25,ChatGPT,472,18,490,Conversation log\n"
        "45,,,GPT-4,1000,250,1250,API log\n",
    )
    code, out, err = import_requests(capsys, log, "--pool", "chat")
    assert code == 0
    assert [(t["t"], t["work_s"]) for t in tasks(out)] == [(5.0, 3.25), (45.0, 11.0)]
    assert err[1:] == [f"{log}: work_s is each request's own Elapsed time; 1 without one "
                       "estimated from tokens"]  # fmt: skip


def test_a_log_longer_than_a_trace_is_imported_some_days_at_a_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """BurstGPT's files span months: the first row past 31 days was refused, with no way to
    import any part of the log."""
    rows = "".join(f"{day * 86_400 + 60},ChatGPT,100,20,120,API log\n" for day in range(61))
    log = written(tmp_path, "BurstGPT_1.csv", BURSTGPT + rows)
    code, out, err = import_requests(capsys, log, "--pool", "chat")
    assert (code, out) == (2, "")
    assert err == [
        f"agentdash: {log}: line 33: Timestamp: expected a time within 31 days of the log's "
        "start (a trace's longest), in a log of 61 days: import 31 days or fewer of it at a "
        "time, with --days (and --from-day)"
    ]
    code, out, err = import_requests(capsys, log, "--pool", "chat", "--from-day", "30",
                                     "--days", "7")  # fmt: skip
    assert code == 0
    assert [t["t"] for t in tasks(out)] == [day * 86_400 + 60.0 for day in range(7)]
    assert err[1] == (
        f"{log}: days 30 to 36 of its 61 kept (0 its first); 54 requests outside them left out"
    )
    code, out, err = import_requests(capsys, log, "--pool", "chat", "--from-day", "61")
    assert (code, out) == (2, "")
    assert err == [f"agentdash: {log}: --from-day: expected requests from day 61 on, got "
                   "none: the log's days are 0 to 60"]  # fmt: skip
    azure = written(
        tmp_path,
        "azure.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-05-10 10:00:00,1,2\n2024-05-12 10:00:00,1,2\n2024-05-13 10:00:00,1,2\n",
    )
    code, out, err = import_requests(capsys, azure, "--pool", "chat", "--from-day", "2")
    assert code == 0
    assert [t["t"] for t in tasks(out)] == [36_000.0, 122_400.0]
    assert "--start 2024-05-12)" in err[0]  # the calendar of the part kept
    assert err[1] == (
        f"{azure}: 2024-05-12 to 2024-05-13 kept of its 2024-05-10 to 2024-05-13 (UTC days); "
        "1 request outside them left out"
    )
    code, out, err = import_requests(capsys, azure, "--pool", "chat", "--start", "2024-05-09",
                                     "--days", "3")  # fmt: skip
    assert [t["t"] for t in tasks(out)] == [122_400.0]
    assert err[1] == (  # a --start before the log's first day
        f"{azure}: 2024-05-09 to 2024-05-11 kept of its 2024-05-10 to 2024-05-13 (UTC days); "
        "2 requests outside them left out"
    )


def test_a_log_of_unix_times_is_read_as_one_of_dates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Epoch milliseconds in Mooncake's form were refused as offsets past 31 days."""
    mooncake = written(
        tmp_path,
        "mooncake.jsonl",
        '{"timestamp": 1715300000500, "input_length": 1000, "output_length": 25}\n'
        '{"timestamp": 1715299999000, "input_length": 1000, "output_length": 25}\n',
    )
    code, out, err = import_requests(capsys, mooncake, "--pool", "kimi")
    assert code == 0
    assert [t["t"] for t in tasks(out)] == [799.0, 800.5]  # from 2024-05-10 00:13:19 UTC
    assert err == [
        f"{mooncake}: 2 requests (mooncake) as pool kimi's tasks, 2 s; t = 0 is 2024-05-10 "
        "00:00 UTC (simulate and tune: --start 2024-05-10)",
        f"{mooncake}: its timestamps are past 2001, read as Unix times",
    ]


def test_failed_requests_are_kept_and_counted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """BurstGPT's failures (no response tokens) became tasks without a word."""
    log = written(
        tmp_path,
        "BurstGPT_1.csv",
        BURSTGPT + "5,ChatGPT,472,18,490,Conversation log\n"
        "1106,ChatGPT,0,0,0,Conversation log\n1200,GPT-4,300,0,300,API log\n",
    )
    code, out, err = import_requests(capsys, log, "--pool", "chat")
    assert code == 0
    assert [(t["work_s"], t["tokens"]) for t in tasks(out)] == [(1.192, 490), (0.01, 0),
                                                                 (0.3, 300)]  # fmt: skip
    assert err[1:] == [
        f"{log}: 2 requests with no completion tokens (BurstGPT's failed requests) kept, as "
        "tasks of their prompt alone"
    ]


def test_rows_written_twice_are_kept_and_counted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A row repeated, as a log appended to twice has them, was replayed twice without a
    word."""
    row = '{"chat_id": 7, "timestamp": 61.5, "input_length": 521, "output_length": 132}\n'
    other = '{"chat_id": 8, "timestamp": 61.5, "input_length": 400, "output_length": 80}\n'
    log = written(tmp_path, "qwen.jsonl", row + other + row + row.replace("61.5", "62.5"))
    code, out, err = import_requests(capsys, log, "--pool", "qwen")
    assert code == 0
    assert len(tasks(out)) == 4
    assert err[1:] == [
        f"{log}: 1 request the same as an earlier one (its time and tokens) kept: a row "
        "written twice is replayed twice"
    ]


def test_a_large_log_is_held_in_a_few_dozen_bytes_a_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held as an object a request, 5 million Azure rows took 1.4 GB to import."""
    header, rows = "TIMESTAMP,ContextTokens,GeneratedTokens\n", 50_000
    small = written(tmp_path, "small.csv", header + "2024-05-10 00:00:00,1,2\n")
    assert import_requests(capsys, small, "--pool", "coder")[0] == 0  # its modules imported
    log = written(
        tmp_path,
        "azure.csv",
        header
        + "".join(
            f"2024-05-10 {k // 3600 % 24:02d}:{k // 60 % 60:02d}:{k % 60:02d}.{k:06d}+00:00,"
            f"{k % 7000},{k % 300}\n"
            for k in range(rows)
        ),
    )
    with (tmp_path / "trace.jsonl").open("w") as trace:
        monkeypatch.setattr(sys, "stdout", trace)
        tracemalloc.start()
        try:
            code, _, err = import_requests(capsys, log, "--pool", "coder")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert code == 0, err
    assert len((tmp_path / "trace.jsonl").read_text().splitlines()) == rows
    assert peak / rows < 100, peak  # bytes a request: about 50


def test_logs_of_dates_imported_with_one_start_share_its_calendar(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Azure 2024's code week starts on 10 May and its conversation week on 12 May: each
    counted from its own first day, the two concatenated put 12 May's requests on 10 May."""
    header = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
    code_week = written(tmp_path, "code.csv", header + "2024-05-10 00:00:00.5+00:00,100,10\n")
    conv_week = written(tmp_path, "conv.csv", header + "2024-05-12 00:00:00.25+00:00,100,10\n")
    _, code_out, code_err = import_requests(capsys, code_week, "--pool", "coder")
    assert [t["t"] for t in tasks(code_out)] == [0.5]
    assert code_err[0].endswith("(simulate and tune: --start 2024-05-10)")
    code, out, err = import_requests(capsys, conv_week, "--pool", "chat", "--start", "2024-05-10")
    assert code == 0
    assert [t["t"] for t in tasks(out)] == [172_800.25]
    assert err == [
        f"{conv_week}: 1 request (azure) as pool chat's tasks, 0 s; t = 0 is 2024-05-10 "
        "00:00 UTC (simulate and tune: --start 2024-05-10)"
    ]
    code, out, err = import_requests(capsys, conv_week, "--pool", "chat", "--start", "2024-05-13")
    assert (code, out) == (2, "")
    assert err == [
        f"agentdash: {conv_week}: --start: expected requests from 2024-05-13 on, got none: "
        "the log's days are 2024-05-12 to 2024-05-12"
    ]
    mooncake = written(
        tmp_path, "m.jsonl", '{"timestamp": 5, "input_length": 1, "output_length": 1}\n'
    )
    code, out, err = import_requests(capsys, mooncake, "--pool", "kimi", "--start", "2024-05-10")
    assert (code, out) == (2, "")
    assert err == [
        f"agentdash: {mooncake}: --start: expected a log of dates and times: one of offsets has "
        "no calendar to start on (--from-day counts its days)"
    ]


def test_a_long_json_lines_log_reads_each_line_as_one_at_a_time_would(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Lines are parsed a chunk at once (a json.loads a line took 24 s a million lines):
    a key given twice is still refused on its line, and an escape or a nested object still
    read."""
    rows = [
        f'{{"timestamp": {k}, "input_length": 100, "output_length": 2, "hash_ids": [{k}]}}\n'
        for k in range(2500)
    ]
    rows[5] = '{"timestamp": 5, "input_length": 100, "output_length": 2, "type": "te\\u0078t"}\n'
    rows[6] = '{"timestamp": 6, "input_length": 100, "output_length": 2, "m": {"a": 1}}\n'
    log = written(tmp_path, "mooncake.jsonl", "".join(rows))
    code, out, _ = import_requests(capsys, log, "--pool", "kimi")
    assert code == 0
    read = tasks(out)
    assert len(read) == 2500
    assert read[5:7] == [{"t": 0.005, "pool": "kimi", "work_s": 0.18, "tokens": 102},
                         {"t": 0.006, "pool": "kimi", "work_s": 0.18, "tokens": 102}]  # fmt: skip
    rows[2200] = rows[2200].replace('"hash_ids"', '"input_length": 7, "hash_ids"')
    log = written(tmp_path, "twice.jsonl", "".join(rows))
    code, out, err = import_requests(capsys, log, "--pool", "kimi")
    assert (code, out) == (2, "")
    assert err == [f"agentdash: {log}: line 2201: expected each key once in an object, got "
                   "'input_length' twice"]  # fmt: skip


def test_one_log_becomes_several_pools_by_a_fields_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """BurstGPT serves ChatGPT and GPT-4, by conversation and by API; Bailian's requests are
    text, search, image or file: each could only be imported whole, as one pool."""
    log = written(
        tmp_path,
        "BurstGPT_1.csv",
        BURSTGPT + "5,ChatGPT,472,18,490,Conversation log\n"
        '45,GPT-4,1000,250,1250,"API log"\n118,GPT-4,417,276,693,Conversation log\n',
    )
    code, out, err = import_requests(capsys, log, "--pool", "gpt4", "--only", "Model=GPT-4")
    assert code == 0
    assert [t["t"] for t in tasks(out)] == [45.0, 118.0]
    assert err[1:] == [f"{log}: 1 request of other values than --only's left out"]
    code, out, _ = import_requests(capsys, log, "--pool", "api", "--only", "Model=GPT-4",
                                   "--only", "Log Type=API log")  # fmt: skip
    assert [t["t"] for t in tasks(out)] == [45.0]
    bailian = written(
        tmp_path,
        "qwen.jsonl",
        '{"chat_id": 1, "timestamp": 1.5, "input_length": 9, "output_length": 1, "type": "text"}\n'
        '{"chat_id": 2, "timestamp": 2.5, "input_length": 9, "output_length": 1, "type": "image",'
        ' "turn": 2}\n',
    )
    code, out, _ = import_requests(capsys, bailian, "--pool", "vision", "--only", "type=image")
    assert [t["t"] for t in tasks(out)] == [2.5]
    escaped = bailian.read_text() + bailian.read_text().replace('"image"', '"imag\\u0065"')
    code, out, _ = import_requests(  # an escape: read a line at a time, and filtered the same
        capsys, written(tmp_path, "twice.jsonl", escaped), "--pool", "v", "--only", "type=image"
    )
    assert [t["t"] for t in tasks(out)] == [2.5, 2.5]
    code, out, _ = import_requests(capsys, bailian, "--pool", "later", "--only", "turn=2")
    assert [t["t"] for t in tasks(out)] == [2.5]
    code, out, err = import_requests(capsys, log, "--pool", "x", "--only", "Region=eu")
    assert (code, out) == (2, "")
    assert err == [f"agentdash: {log}: line 1: expected a column Region (--only), got the "
                   "header 'Timestamp,Model,Request tokens,Response tokens,Total tokens,Log "
                   "Type'"]  # fmt: skip
    code, out, err = import_requests(capsys, log, "--pool", "x", "--only", "Model=GPT-5")
    assert (code, out) == (2, "")
    assert err == [f"agentdash: {log}: expected a request of --only's values, got none of 3"]


def test_whole_numbers_written_as_floats_are_counts_of_tokens(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """pandas writes the whole numbers of a column with a gap as 472.0: they were refused."""
    log = written(tmp_path, "BurstGPT_1.csv", BURSTGPT + "5,ChatGPT,472.0,18.00,490,API log\n")
    code, out, err = import_requests(capsys, log, "--pool", "chat")
    assert code == 0, err
    assert [t["tokens"] for t in tasks(out)] == [490]
    mooncake = written(
        tmp_path, "m.jsonl", '{"timestamp": 5, "input_length": 472.0, "output_length": 18}\n'
    )
    code, out, err = import_requests(capsys, mooncake, "--pool", "chat")
    assert code == 0, err
    assert [t["tokens"] for t in tasks(out)] == [490]
