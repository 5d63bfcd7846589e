"""Every mistake in a flag, or in the file a flag names (`plan --observations`, `simulate
--trace`), is one line naming the flag, or the file and the field, and exit 2: through the real
entry point, and through the installed command for a few, to show that no traceback reaches the
terminal. The table's machinery is tests/support/mistakes.py; config files are
test_config_mistakes.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.support.mistakes import (
    OBSERVATIONS,
    Case,
    P,
    assert_no_traceback_reaches_the_terminal,
    assert_one_line_naming_file_and_field_and_exit_2,
    flag,
    observations,
    observed,
    traced,
)

GOOD_TASK = '{"t": 0, "pool": "acme-research", "work_s": 1, "tokens": 1}'

CASES = [
    # observations for `plan`
    observed("mean_task_seconds Infinity", observations(mean_task_seconds=float("inf")),
             f"{P}.mean_task_seconds", "expected a finite number, got inf"),
    observed("arrival_rate NaN", observations(arrival_rate=float("nan")), f"{P}.arrival_rate",
             "expected a finite number, got nan"),
    observed("pending true", observations(pending=True), f"{P}.pending",
             "expected an integer, got true"),
    observed("pending 1e400", observations(pending=1e400), f"{P}.pending",
             "expected an integer, got inf"),
    observed("pending a 5000-digit number", observations().replace('"pending": 40',
             '"pending": ' + "9" * 5000), f"{P}.pending",
             "expected a number <= 1e+15, got a 5000-digit number"),
    # one limit, said the same whether the number is over it by its value or by its digits
    observed("pending of 18 digits", observations(pending=10**18 - 1), f"{P}.pending",
             "expected a number <= 1e+15, got 999999999999999999"),
    observed("pending of 19 digits", observations(pending=10**19 - 1), f"{P}.pending",
             "expected a number <= 1e+15, got a 19-digit number"),
    observed("pending of 19 digits below 0", observations(pending=-(10**19 - 1)),
             f"{P}.pending", "expected a number >= 0, got a 19-digit negative number"),
    observed("replicas 1e16", observations(replicas=10**16), f"{P}.replicas",
             "expected a number <= 100000"),
    # a rate or a task time the engine would ignore as no measurement
    observed("arrival_rate 1e9", observations(arrival_rate=1e9), f"{P}.arrival_rate",
             "expected a number <= 1e+06, got 1000000000.0"),
    observed("stale empty", observations(stale=""), f"{P}.stale",
             "expected a non-empty string, got ''"),
    observed("a required key misspelt", observations(pendng=40).replace('"pending": 40, ', ""),
             f"{P}.pendng", "unknown key (did you mean pending?)"),
    observed("a history pair of 3", json.dumps({**OBSERVATIONS, "history": {"acme-research":
             {"recommendations": [[1, 2, 3]]}}}), "history.acme-research.recommendations.0",
             "expected a list of 2 items, got 3 items"),
    observed("now NaN", json.dumps({**OBSERVATIONS, "now": float("nan")}), "now",
             "expected a finite number"),
    observed("pin -1", json.dumps({**OBSERVATIONS, "pins": {"acme-research": -1}}),
             "pins.acme-research.replicas", "expected a number >= 0, got -1"),
    observed("binary", b"\xff\xd8\xff\xe0\x00\x10JFIF", "byte 0", "expected UTF-8 text"),
    observed("deep nesting", "[" * 100_000 + "]" * 100_000, "", "levels of nesting"),
    observed("duplicate key", '{"pools": {}, "pools": {}}', "",
             "expected each key once in an object, got 'pools' twice"),
    observed("ready above replicas", observations(ready=5), P,
             "expected ready <= replicas (2), got ready 5"),
    observed("a step after now", json.dumps({**OBSERVATIONS, "now": 1000, "history": {
             "acme-research": {"steps": [[900, 1], [9e10, 3]]}}}), "history.acme-research.steps.1",
             "expected a time at or before now (1000), got 9e+10"),
    observed("a step of 1e15 pods", json.dumps({**OBSERVATIONS, "now": 1000, "history": {
             "acme-research": {"steps": [[900, 10**15]]}}}), "history.acme-research.steps.0.1",
             "expected a number <= 100000, got 1000000000000000"),
    # traces for `simulate`
    traced("no task", "", "", "expected at least one task, got none"),
    traced("blank lines only", "\n\n", "", "expected at least one task, got none"),
    traced("a key twice", GOOD_TASK[:-1] + ', "t": 5}', "line 1",
           "expected each key once in an object, got 't' twice"),
    traced("t 3e6", GOOD_TASK + "\n" + GOOD_TASK.replace('"t": 0', '"t": 3e6'), "line 2: t",
           "expected a number <= 2678400, got 3000000.0"),
    traced("t in milliseconds", GOOD_TASK + "\n" + GOOD_TASK.replace('"t": 0', '"t": 2679000'),
           "line 2: t", "expected a number <= 2678400, got 2679000: t counts seconds, 31 days "
           "at most (milliseconds? divide by 1,000; a longer trace? replay a month at a time)"),
    traced("t Infinity", GOOD_TASK.replace('"t": 0', '"t": Infinity'), "line 1: t",
           "expected a number >= 0, got inf"),
    traced("t a Unix timestamp", GOOD_TASK.replace('"t": 0', '"t": 1700000000'), "line 1: t",
           "expected seconds from the trace's start (midnight UTC of its first day), at most "
           "2678400 (31 days), got 1700000000: a Unix timestamp? subtract the midnight before "
           "the first arrival, and give its date as --start"),
    traced("tokens a 4000-digit number",
           GOOD_TASK.replace('"tokens": 1', '"tokens": ' + "9" * 4000), "line 1: tokens",
           "expected a number <= 1e+15, got a 4000-digit number"),
    traced("t a 4000-digit number", GOOD_TASK + "\n" + GOOD_TASK.replace('"t": 0', '"t": ' +
           "9" * 4000), "line 2: t", "expected a number <= 2678400, got a 4000-digit number"),
    traced("one endless line", "[" + GOOD_TASK * 1000 + "]", "line 1",
           "expected JSON lines, one task a line of at most 4,096 characters; got a longer line"),
    traced("work_s true", GOOD_TASK.replace('"work_s": 1', '"work_s": true'), "line 1: work_s",
           "expected a number > 0, got true"),
    traced("binary", b"\x00\xff\xfe\xfa", "line 1", "expected UTF-8 text, got byte 0xff"),
    # the public traces come compressed: it was only 'expected UTF-8 text, got byte 0x8b'
    traced("gzip", gzip.compress(GOOD_TASK.encode()), "line 1",
           "expected UTF-8 text, got byte 0x8b (gzip data: decompress it first)"),
    traced("latin-1", (GOOD_TASK + "\n" + GOOD_TASK + "  # café\n").encode("latin-1"),
           "line 2", "expected UTF-8 text, got byte 0xe9"),
    traced("deep nesting", "[" * 2_000 + "]" * 2_000, "line 1",
           "expected a flat JSON object like"),
    # flags
    flag("--http nonsense", "--controller-only --config CONFIG --http nonsense", "argument --http",
         "expected [HOST]:PORT with PORT from 1 to 65535, got 'nonsense'"),
    flag("--http :99999", "--controller-only --config CONFIG --http :99999", "argument --http",
         "got ':99999'"),
    flag("demo --duration inf", "demo --headless --duration inf",
         "argument --duration", "expected a number > 0 and <= 604800, got 'inf'"),
    flag("demo --speed 0", "demo --headless --speed 0", "argument --speed", "got '0'"),
    flag("demo --speed 1e-9", "demo --headless --speed 1e-9", "argument --speed", "got '1e-9'"),
    # `-` is standard input for --trace; as a file to write it is refused, not made a file
    flag("simulate --events -", "simulate --events -", "argument --events", "got '-'"),
    flag("tune --output -", "tune --config CONFIG --trace TRACE --output -", "argument --output",
         "got '-'"),
    flag("demo --events -", "demo --headless --events -", "argument --events", "got '-'"),
    flag("demo --cold-start nan", "demo --headless --cold-start nan",
         "argument --cold-start", "got 'nan'"),
    flag("demo --seed x", "demo --headless --seed x", "argument --seed", "got 'x'"),
    flag("--lease-ttl -5", "--controller-only --config CONFIG --lease-ttl -5",
         "argument --lease-ttl", "expected a number >= 1 and <= 3600, got '-5'"),
    flag("--lease-ttl inf", "--controller-only --config CONFIG --lease-ttl inf",
         "argument --lease-ttl", "got 'inf'"),
    flag("--nats-url nonsense", "--controller-only --config CONFIG --nats-url nonsense",
         "argument --nats-url", "expected a URL like nats://HOST:PORT"),
    flag("--nats-url port 0", "--controller-only --config CONFIG --nats-url nats://nats:0",
         "argument --nats-url", "expected a URL like nats://HOST:PORT (nats, tls, ws, wss), "
         "got 'nats://nats:0'"),
    flag("--kubeconfig missing", "--controller-only --config CONFIG --kubeconfig /no/kubeconfig",
         "argument --kubeconfig", "got '/no/kubeconfig' (No such file or directory)"),
    flag("--kubeconfig a folder", "--controller-only --config CONFIG --kubeconfig /",
         "argument --kubeconfig", "got '/' (Is a directory)"),
    flag("--kubeconfig /dev/null", "--controller-only --config CONFIG --kubeconfig /dev/null",
         "argument --kubeconfig", "got '/dev/null' (not a regular file)"),
    flag("--context empty", "--controller-only --config CONFIG --context=", "argument --context",
         "expected a name"),
    flag("simulate --drain -1", "simulate --drain -1", "argument --drain",
         "expected a number >= 0"),
    flag("simulate --hours 0", "simulate --generate bursty --hours 0", "argument --hours",
         "expected a number >= 0.001 and <= 744"),
    # a subnormal span: the arrival rate that makes 5 tasks in it overflowed to infinity
    flag("simulate --hours 5e-324", "simulate --generate bursty --hours 5e-324 --tasks 5",
         "argument --hours", "expected a number >= 0.001 and <= 744, got '5e-324'"),
    flag("simulate --keda-polling-interval 0", "simulate --keda-polling-interval 0",
         "argument --keda-polling-interval", "expected a number >= 1"),
    flag("simulate --keda-polling-interval 1e-9", "simulate --keda-polling-interval 1e-9",
         "argument --keda-polling-interval", "expected a number >= 1 and <= 2678400, got '1e-9'"),
    flag("simulate --hpa-sync-period 1e-9", "simulate --hpa-sync-period 1e-9",
         "argument --hpa-sync-period", "expected a number >= 1 and <= 2678400, got '1e-9'"),
    flag("simulate --plot x.png", "simulate --plot x.png",
         "argument --plot", "expected a file name ending in .svg, got 'x.png'"),
    flag("simulate --hpa-tolerance 5", "simulate --hpa-tolerance 5",
         "argument --hpa-tolerance", "expected a number >= 0 and <= 0.99, got '5'"),
    flag("simulate --hpa-behavior 2", "simulate --hpa-behavior 2",
         "argument --hpa-behavior", "expected a whole number from 0 to 1, got '2'"),
    flag("simulate --tasks -5", "simulate --generate bursty --tasks -5", "argument --tasks",
         "expected a whole number from 1"),
    flag("simulate --tasks 0", "simulate --generate bursty --tasks 0", "argument --tasks",
         "expected a whole number from 1 to 10000000, got '0'"),
    flag("simulate --hpa-up-pods 0", "simulate --hpa-up-pods 0", "argument --hpa-up-pods",
         "expected a whole number from 1 to 100000, got '0'"),
    flag("simulate --hpa-up-percent 0", "simulate --hpa-up-percent 0",
         "argument --hpa-up-percent", "expected a whole number from 1 to 100000, got '0'"),
    flag("simulate --hpa-down-percent 0", "simulate --hpa-down-percent 0",
         "argument --hpa-down-percent", "expected a whole number from 1 to 100, got '0'"),
    flag("simulate --generate with --trace", "simulate --generate bursty --trace TRACE",
         "simulate --generate SHAPE", "--trace FILE would be ignored"),
    flag("simulate --generate with --plot", "simulate --generate bursty --plot x.svg",
         "simulate --generate SHAPE", "--plot FILE.svg would be ignored"),
    flag("simulate --generate with --policy", "simulate --generate bursty --policy keda",
         "simulate --generate SHAPE", "--policy would be ignored"),
    flag("simulate --generate with --drain", "simulate --generate bursty --drain 60",
         "simulate --generate SHAPE", "--drain would be ignored"),
    flag("simulate --generate with a baseline's knob",
         "simulate --generate bursty --keda-polling-interval 5", "simulate --generate SHAPE",
         "--keda-polling-interval would be ignored"),
    # a baseline's knob for a baseline the run leaves out: the default --policy all runs both
    flag("simulate --policy hpa with a KEDA knob", "simulate --policy hpa "
         "--keda-cooldown-period 60", "simulate --keda-cooldown-period",
         "sets the keda baseline: --policy hpa runs none"),
    flag("simulate --policy agentdash with an HPA knob", "simulate --policy agentdash "
         "--hpa-tolerance 0.2", "simulate --hpa-tolerance",
         "sets the HPA of the keda and hpa baselines: --policy agentdash runs neither"),
    flag("queues --nats-config with --ack-wait", "queues --config CONFIG --nats-config "
         "--ack-wait 60", "queues --nats-config", "--ack-wait would be ignored"),
    flag("queues --nats-config with --nats-url", "queues --config CONFIG --nats-config "
         "--nats-url nats://127.0.0.1:4222", "queues --nats-config",
         "--nats-url would be ignored"),
    flag("queues --producer-connections without --nats-config", "queues --config CONFIG "
         "--producer-connections 5", "queues --producer-connections", "needs --nats-config"),
    flag("demo --headless with --read-only", "demo --headless --read-only", "demo --headless",
         "--read-only would be ignored"),
    flag("--controller-only with --read-only", "--controller-only --config CONFIG --read-only",
         "--controller-only and --read-only", "a read-only daemon never leads, so never scales"),
    flag("simulate --hours without --generate", "simulate --hours 2", "simulate --hours",
         "needs --generate SHAPE"),
    flag("simulate --seed without --generate", "simulate --trace TRACE --config CONFIG --seed 3",
         "simulate --seed", "needs --generate SHAPE"),
    flag("simulate --seed 2**63", "simulate --generate bursty --seed 9223372036854775808",
         "argument --seed", "expected a whole number from 0 to 9223372036854775807, got "
         "'9223372036854775808'"),
    flag("demo --seed 2**63", "demo --headless --seed 9223372036854775808", "argument --seed",
         "expected a whole number from 0 to 9223372036854775807, got '9223372036854775808'"),
    flag("tune --seed -1", "tune --config CONFIG --trace TRACE --seed -1", "--seed",
         "expected a whole number from 0 to 9223372036854775807, got '-1'"),
    flag("tune --seed 1.5", "tune --config CONFIG --trace TRACE --seed 1.5", "--seed",
         "expected a whole number from 0 to 9223372036854775807, got '1.5'"),
    flag("tune --objective balanced:", "tune --config CONFIG --trace TRACE --objective balanced:",
         "--objective", "expected balanced:W with 0 < W < 1, got 'balanced:'"),
    flag("tune --drain inf", "tune --config CONFIG --trace TRACE --drain inf", "--drain",
         "expected a number >= 0 and <= 2678400, got 'inf'"),
    flag("tune --drain 1e300", "tune --config CONFIG --trace TRACE --drain 1e300", "--drain",
         "expected a number >= 0 and <= 2678400, got '1e300'"),
    flag("tune --time-budget nan", "tune --config CONFIG --trace TRACE --time-budget nan",
         "--time-budget", "expected a number >= 0 and <= 604800, got 'nan'"),
    flag("tune --trials 1e9", "tune --config CONFIG --trace TRACE --trials 1e9", "--trials",
         "expected a whole number from 2 to 100000, got '1e9'"),
    flag("tune --workers 99999999999", "tune --config CONFIG --trace TRACE --workers 99999999999",
         "--workers", "expected a whole number from 1 to 1024, got '99999999999'"),
    flag("check-config ''", "check-config ", "argument FILE", "expected a file name, got ''"),
    # read as a file named `-`: 'No such file or directory'; only --trace and import read it
    flag("check-config -", "check-config -", "argument FILE",
         "expected a file name, got '-' (standard input is /dev/stdin)"),
    flag("plan --observations -", "plan --config CONFIG --observations -",
         "argument --observations", "expected a file name, got '-' (standard input is "
         "/dev/stdin)"),
    flag("demo --config ''", "demo --headless --config=", "argument --config",
         "expected a file name, got ''"),
    flag("simulate --config ''", "simulate --config  --trace TRACE", "argument --config",
         "expected a file name, got ''"),
    flag("unknown flag", "--bogus", "unrecognized arguments", "--bogus"),
    # after a COMMAND, the help to read is that command's: `agentdash --help` lists none of
    # its flags
    flag("unknown flag of simulate", "simulate --bogus", "agentdash simulate: unrecognized "
         "arguments: --bogus", "(see agentdash simulate --help)"),
    flag("unknown flag of import requests", "import requests TRACE --pool a --bogus",
         "agentdash import requests: unrecognized arguments: --bogus",
         "(see agentdash import requests --help)"),
    # a fleet's flag before a COMMAND: the command's own --config replaced it unseen, and
    # the bundled example was replayed or planned instead of the file given
    flag("--config before simulate", "--config CONFIG simulate --trace TRACE",
         "--config before simulate", "would be ignored"),
    flag("--config before plan", "--config CONFIG plan", "--config before plan",
         "would be ignored"),
    flag("--config before check-config", "--config CONFIG check-config",
         "--config before check-config", "would be ignored"),
    flag("--dry-run --lease-ttl before demo", "--dry-run --lease-ttl 5 demo --headless",
         "--dry-run --lease-ttl before demo", "would be ignored"),
]  # fmt: skip


def test_there_are_at_least_50_cases() -> None:
    """With test_config_mistakes.py's 60 and more, the two tables cover over 110 mistakes."""
    assert len(CASES) >= 50
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_mistake_is_one_line_naming_file_and_field_and_exit_2(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_naming_file_and_field_and_exit_2(case, tmp_path, capsys)


SUBPROCESS = [
    "--http :99999",
    "observations: mean_task_seconds Infinity",
    "trace: t a Unix timestamp",
]


@pytest.mark.e2e
@pytest.mark.parametrize("case_id", SUBPROCESS)
def test_no_traceback_reaches_the_terminal(case_id: str, tmp_path: Path) -> None:
    case = next(case for case in CASES if case.id == case_id)
    assert_no_traceback_reaches_the_terminal(case, tmp_path)
