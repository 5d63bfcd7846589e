"""Every user mistake, in a file or a flag, is one line naming the file (or flag) and the field,
and exit 2: through the real entry point, and through the installed command for a few, to show
that no traceback reaches the terminal."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentdash.cli import main
from agentdash.example import BACKTEST_CONFIG, BACKTEST_TRACE
from tests.support.kmock import kubeconfig_without_context

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "agentdash.yaml"
OBSERVATIONS = json.loads((ROOT / "examples" / "observations.json").read_text())
AGENTDASH = shutil.which("agentdash", path=str(Path(sys.executable).parent)) or "agentdash"
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
GOOD_TASK = '{"t": 0, "pool": "acme-research", "work_s": 1, "tokens": 1}'

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


TEXT = EXAMPLE.read_text()


def text(old: str, new: str) -> str:
    """The example config as its author wrote it, with its first `old` made `new`."""
    assert old in TEXT, old
    return TEXT.replace(old, new, 1)


def edited(**changes: Any) -> str:
    """The example config with `path.to.field=value` changes (None deletes), as YAML."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return yaml.safe_dump(data, sort_keys=False)


def renamed_pool(name: str) -> str:
    data = copy.deepcopy(BASE)
    data["pools"][name] = data["pools"].pop("acme-research")
    return yaml.safe_dump(data, sort_keys=False)


def observations(**pool: Any) -> str:
    data = copy.deepcopy(OBSERVATIONS)
    data["pools"]["acme-research"].update(pool)
    return json.dumps(data)


@dataclass(frozen=True)
class Case:
    """A file's content (text or bytes) and the command to give it to, or only flags.
    `where` is what the line must name after the file: a field path or a flag."""

    id: str
    content: str | bytes | None
    command: str
    where: str
    expected: str


def config(id: str, content: str | bytes, where: str, expected: str) -> Case:
    return Case(f"config: {id}", content, "check-config", where, expected)


def observed(id: str, content: str | bytes, where: str, expected: str) -> Case:
    return Case(f"observations: {id}", content, "plan", where, expected)


def traced(id: str, content: str | bytes, where: str, expected: str) -> Case:
    return Case(f"trace: {id}", content, "simulate", where, expected)


def flag(id: str, args: str, where: str, expected: str) -> Case:
    return Case(id, None, args, where, expected)


P = "pools.acme-research"
CASES = [
    # what a file is, before any field
    config("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "byte 0",
           "expected UTF-8 text"),
    config("latin-1", "cluster: {max_pods: 3}  # café\n".encode("latin-1"), "byte 29",
           "expected UTF-8 text, got byte 0xe9"),
    config("control character", "cluster:\x00 {}\n", "character 8", "expected printable text"),
    config("deep nesting", "a: " + "[" * 5000 + "]" * 5000, "line 1 column 35",
           "expected at most 32 levels of nesting"),
    config("alias bomb", BOMB, "line 7 column 4",
           "expected at most 1,000,000 values once aliases are expanded"),
    config("recursive alias", "pools: &p {a: *p}\n", "line 1 column 15",
           "expected no alias inside its own anchor"),
    config("duplicate key", text("max_replicas: 10", "max_replicas: 10\n    max_replicas: 3"),
           f"line {TEXT.splitlines().index('    max_replicas: 10') + 2} column 5",
           "expected each key once in a mapping, got 'max_replicas' again"),
    config("huge integer", text("max_replicas: 10", "max_replicas: " + "9" * 5000),
           f"{P}.max_replicas", "expected a number of at most 18 digits, got a 5000-digit number"),
    config("over 4 MiB", "# " + "x" * (4 << 20) + "\n", "", "expected YAML of at most 4 MiB"),
    config("bad syntax", "cluster: {max_pods: [1, 2\n", "line 2 column 1", "expected valid YAML"),
    config("empty", "", "", "expected a mapping at the top level"),
    config("a list", "- pools\n", "", "expected a mapping at the top level"),
    # numbers: strict, finite, bounded
    config("bool for an int", text("max_replicas: 10", "max_replicas: true"), f"{P}.max_replicas",
           "expected an integer, got true"),
    config("interval .inf", edited(controller__interval_seconds=float("inf")),
           "controller.interval_seconds", "expected a finite number, got inf"),
    config("interval .nan", edited(controller__interval_seconds=float("nan")),
           "controller.interval_seconds", "expected a finite number, got nan"),
    config("interval 1.0e-9", edited(controller__interval_seconds=1e-9),
           "controller.interval_seconds", "expected a number >= 0.05, got 1e-09"),
    config("interval 1e-9 (a number, as JSON reads it)", text("interval_seconds: 1",
           "interval_seconds: 1e-9"), "controller.interval_seconds",
           "expected a number >= 0.05, got 1e-09"),
    # YAML 1.1 would read these as octal 24, hexadecimal 24 and base 60: not numbers here
    config("max_replicas 030", text("max_replicas: 10", "max_replicas: 030"),
           f"{P}.max_replicas", "expected an integer, got '030'"),
    config("max_replicas 0x18", text("max_replicas: 10", "max_replicas: 0x18"),
           f"{P}.max_replicas", "expected an integer, got '0x18'"),
    config("cooldown 1:30", text("cooldown_seconds: 15", "cooldown_seconds: 1:30"),
           f"{P}.cooldown_seconds", "expected a number, got '1:30'"),
    # nor these, which JSON does not read as numbers either
    config("max_replicas +5", text("max_replicas: 10", "max_replicas: +5"),
           f"{P}.max_replicas", "expected an integer, got '+5'"),
    config("max_replicas 1_0", text("max_replicas: 10", "max_replicas: 1_0"),
           f"{P}.max_replicas", "expected an integer, got '1_0'"),
    config("rpm_per_replica 1_0", text("rpm_per_replica: 30", "rpm_per_replica: 1_0"),
           f"{P}.rpm_per_replica", "expected a number, got '1_0'"),
    config("rpm_per_replica .5", text("rpm_per_replica: 30", "rpm_per_replica: .5"),
           f"{P}.rpm_per_replica", "expected a number, got '.5'"),
    config("cooldown 1e300", text("cooldown_seconds: 15", "cooldown_seconds: 1.0e+300"),
           f"{P}.cooldown_seconds", "expected a number <= 86400, got 1e+300"),
    config("max_replicas a million", text("max_replicas: 10", "max_replicas: 1000000"),
           f"{P}.max_replicas", "expected a number <= 100000, got 1000000"),
    config("max_replicas 3.0", text("max_replicas: 10", "max_replicas: 3.0"),
           f"{P}.max_replicas", "expected an integer, got 3.0"),
    config("budget 1.5", edited(tenants__acme__daily_token_budget=1.5),
           "tenants.acme.daily_token_budget", "expected an integer, got 1.5"),
    config("warn_at a string", edited(tenants__acme__warn_at="0.8"), "tenants.acme.warn_at",
           "expected a number, got '0.8'"),
    config("hard_cap a string", edited(tenants__acme__hard_cap="yes"), "tenants.acme.hard_cap",
           "expected true or false, got 'yes'"),
    config("priority 1e12", edited(tiers__enterprise__priority=10**12), "tiers.enterprise.priority",
           "expected a number <= 1e+09"),
    config("cluster max_pods 0", edited(cluster__max_pods=0), "cluster.max_pods",
           "expected a number greater than 0, got 0"),
    config("qps .inf", edited(kubernetes__qps=float("inf")), "kubernetes.qps",
           "expected a finite number"),
    config("burst true", edited(kubernetes__burst=True), "kubernetes.burst",
           "expected an integer, got true"),
    config("headroom .nan", text("{rpm: 600}", "{rpm: 600, headroom: .nan}"),
           "providers.openai.headroom", "expected a finite number"),
    config("rpm true", text("{rpm: 600}", "{rpm: true}"), "providers.openai.rpm",
           "expected an integer, got true"),
    config("tolerance 1.5", text("scale_up:   {stabilization_seconds: 0, max_pods: 6",
           "scale_up:   {tolerance: 1.5, stabilization_seconds: 0, max_pods: 6"),
           f"{P}.behavior.scale_up.tolerance", "expected a number less than 1, got 1.5"),
    config("policy value true", text(
           "scale_up:   {stabilization_seconds: 0, max_pods: 6, period_seconds: 5}",
           "scale_up: {policies: [{type: Pods, value: true, period_seconds: 5}]}"),
           f"{P}.behavior.scale_up.policies.0.value", "expected an integer, got true"),
    config("period .inf", text("max_pods: 6, period_seconds: 5",
           "max_pods: 6, period_seconds: .inf"), f"{P}.behavior.scale_up.policies.0.period_seconds",
           "expected a finite number"),
    config("behavior scaleUp and scale_up", text(
           "scale_up:   {stabilization_seconds: 0, max_pods: 6, period_seconds: 5}",
           "scaleUp: {select_policy: Max}\n      scale_up: {select_policy: Min}"),
           f"{P}.behavior", "expected each key once in a mapping, got 'scale_up' twice"),
    config("behavior window in both spellings", text("scale_up:   {stabilization_seconds: 0,",
           "scale_up:   {stabilizationWindowSeconds: 10, stabilization_seconds: 20,"),
           f"{P}.behavior.scale_up",
           "expected each key once in a mapping, got 'stabilization_seconds' twice"),
    config("max_pods true (single rule)", text("max_pods: 6,", "max_pods: true,"),
           f"{P}.behavior.scale_up", "max_pods: expected a whole number greater than 0, got true"),
    config("tier not a string", edited(tenants__acme__tier=5), "tenants.acme.tier",
           "expected a string, got 5"),
    config("prometheus query empty",
           edited(prometheus={"url": "http://p:9090", "tokens_query": ""}),
           "prometheus.tokens_query", "expected a non-empty string"),
    config("prometheus interval 0",
           edited(prometheus={"url": "http://p:9090", "interval_seconds": 0}),
           "prometheus.interval_seconds", "expected a number >= 1, got 0"),
    # names that become NATS subjects or Kubernetes objects
    config("key misspelt", text("max_replicas: 10", "max_replica: 10"), f"{P}.max_replica",
           "unknown key (did you mean max_replicas?)"),
    config("no pools", edited(pools={}), "pools", "expected at least one pool, got none"),
    config("empty pool name", renamed_pool(""), "pools", "expected a pool name of 1-63"),
    config("pool name with a dot", renamed_pool("acme.research"), "pools",
           "expected a pool name of 1-63 lowercase letters, digits and '-'"),
    config("pool name *", renamed_pool("acme*"), "pools", "got 'acme*'"),
    config("pool name >", renamed_pool(">"), "pools", "got '>'"),
    config("pool name with a space", renamed_pool("acme research"), "pools", "got 'acme research'"),
    config("pool name in capitals", renamed_pool("Acme"), "pools", "got 'Acme'"),
    config("pool name too long", renamed_pool("a" * 64), "pools", "expected a pool name of 1-63"),
    config("pool name a number", text("  acme-research:", "  12:"), "pools",
           "expected a string, got 12"),
    config("tenant name with a dot", text("  acme:    {tier", "  ac.me:    {tier"),
           "tenants", "got 'ac.me'"),
    config("tier name with a space", text("  enterprise: {priority", "  'gold tier': {priority"),
           "tiers", "expected a name of 1-255 letters, digits, '-' and '_'"),
    config("namespace in capitals", text("namespace: agents, name: acme-research",
           "namespace: Agents, name: acme-research"), f"{P}.deployment.namespace",
           "expected a Kubernetes namespace"),
    config("deployment name with _", text("name: acme-research}", "name: acme_research}"),
           f"{P}.deployment.name", "expected a Kubernetes name"),
    config("deployment name -x", text("name: acme-research}", "name: -x}"),
           f"{P}.deployment.name", "got '-x'"),
    config("stream with a dot", text("stream: AGENT_TASKS, consumer: acme-research",
           "stream: AGENT.TASKS, consumer: acme-research"), f"{P}.queue.stream",
           "no '.', '*', '>' or spaces"),
    config("consumer with *", text("consumer: acme-research}", "consumer: 'acme*'}"),
           f"{P}.queue.consumer", "got 'acme*'"),
    config("subject with >", text("consumer: acme-research}",
           "consumer: acme-research, subject: 'tasks.>'}"), f"{P}.queue.subject",
           "expected a NATS subject"),
    config("subject with an empty token", text("consumer: acme-research}",
           "consumer: acme-research, subject: 'tasks..a'}"), f"{P}.queue.subject", "none empty"),
    # what pools share
    config("two pools on one Deployment", text("name: acme-support}", "name: acme-research}"),
           "pools.acme-support.deployment", "expected a deployment no other pool uses, got "
           "agents/acme-research (also pools.acme-research)"),
    config("two pools on one consumer", text("consumer: acme-support}", "consumer: acme-research}"),
           "pools.acme-support.queue.consumer", "expected a consumer no other pool uses"),
    config("two pools on one subject", text("consumer: acme-support}",
           "consumer: acme-support, subject: agent_tasks.acme-research}"),
           "pools.acme-support.queue.subject", "expected a subject no other pool uses"),
    # fallback, auth and TLS
    config("fallback over max_replicas", text("cooldown_seconds: 15", "fallback: {replicas: 11}"),
           f"{P}.fallback.replicas", "expected at most max_replicas (10), got 11"),
    config("fallback threshold 0", text("cooldown_seconds: 15",
           "fallback: {replicas: 2, failure_threshold: 0}"), f"{P}.fallback.failure_threshold",
           "expected a number >= 1, got 0"),
    config("fallback without replicas", text("cooldown_seconds: 15", "fallback: {}"),
           f"{P}.fallback.replicas", "required field is missing"),
    config("nats url http", edited(nats={"url": "http://nats:4222"}), "nats.url",
           "expected a URL like nats://HOST:PORT"),
    config("nats url port 99999", edited(nats={"url": "nats://nats:99999"}), "nats.url",
           "expected a URL like nats://HOST:PORT"),
    config("nats user without password", edited(nats={"user": "agentdash"}), "nats",
           "expected password beside the other"),
    config("nats user and token", edited(nats={"user": "a", "password": "b", "token": "c"}), "nats",
           "expected one way to authenticate, got user and token"),
    config("nats cert without key", edited(nats={"tls": {"cert_file": "c.pem"}}), "nats.tls",
           "expected key_file beside the other"),
    config("nats creds empty", edited(nats={"creds_file": ""}), "nats.creds_file",
           "expected a non-empty string"),
    config("prometheus url ftp", edited(prometheus={"url": "ftp://p"}), "prometheus.url",
           "expected a URL like http(s)://HOST[:PORT]"),
    config("prometheus ca and insecure", edited(prometheus={"url": "https://p", "tls": {
           "ca_file": "ca.pem", "insecure_skip_verify": True}}), "prometheus.tls",
           "expected either ca_file or insecure_skip_verify, not both"),
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
             '"pending": ' + "9" * 5000), f"{P}.pending", "expected a number of at most 18 digits"),
    observed("replicas 1e16", observations(replicas=10**16), f"{P}.replicas",
             "expected a number <= 1e+15"),
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
    # traces for `simulate`
    traced("no task", "", "", "expected at least one task, got none"),
    traced("blank lines only", "\n\n", "", "expected at least one task, got none"),
    traced("a key twice", GOOD_TASK[:-1] + ', "t": 5}', "line 1",
           "expected each key once in an object, got 't' twice"),
    traced("t 1e9", GOOD_TASK + "\n" + GOOD_TASK.replace('"t": 0', '"t": 1e9'), "line 2: t",
           "expected a number <= 2678400, got 1000000000.0"),
    traced("tokens a 5000-digit number",
           GOOD_TASK.replace('"tokens": 1', '"tokens": ' + "9" * 5000), "line 1: tokens",
           "expected a number of at most 18 digits, got a 5000-digit number"),
    traced("t a 5000-digit number", GOOD_TASK + "\n" + GOOD_TASK.replace('"t": 0', '"t": ' +
           "9" * 5000), "line 2: t", "expected a number of at most 18 digits"),
    traced("work_s true", GOOD_TASK.replace('"work_s": 1', '"work_s": true'), "line 1: work_s",
           "expected a number > 0, got true"),
    traced("binary", b"\x00\xff\xfe\xfa", "line 1", "expected UTF-8 text, got byte 0xff"),
    traced("latin-1", (GOOD_TASK + "\n" + GOOD_TASK + "  # café\n").encode("latin-1"),
           "line 2", "expected UTF-8 text, got byte 0xe9"),
    traced("deep nesting", "[" * 100_000 + "]" * 100_000, "line 1",
           "expected a flat JSON object like"),
    # flags
    flag("--http nonsense", "--controller-only --config CONFIG --http nonsense", "argument --http",
         "expected [HOST]:PORT with PORT from 1 to 65535, got 'nonsense'"),
    flag("--http :99999", "--controller-only --config CONFIG --http :99999", "argument --http",
         "got ':99999'"),
    flag("demo --duration inf", "demo --headless --duration inf",
         "argument --duration", "expected a number > 0 and <= 604800, got 'inf'"),
    flag("demo --speed 0", "demo --headless --speed 0", "argument --speed", "got '0'"),
    flag("demo --cold-start nan", "demo --headless --cold-start nan",
         "argument --cold-start", "got 'nan'"),
    flag("demo --seed x", "demo --headless --seed x", "argument --seed", "got 'x'"),
    flag("--lease-ttl -5", "--controller-only --config CONFIG --lease-ttl -5",
         "argument --lease-ttl", "expected a number >= 1 and <= 3600, got '-5'"),
    flag("--lease-ttl inf", "--controller-only --config CONFIG --lease-ttl inf",
         "argument --lease-ttl", "got 'inf'"),
    flag("--nats-url nonsense", "--controller-only --config CONFIG --nats-url nonsense",
         "argument --nats-url", "expected a URL like nats://HOST:PORT"),
    flag("--kubeconfig missing", "--controller-only --config CONFIG --kubeconfig /no/kubeconfig",
         "argument --kubeconfig", "got '/no/kubeconfig' (No such file or directory)"),
    flag("--kubeconfig a folder", "--controller-only --config CONFIG --kubeconfig /",
         "argument --kubeconfig", "got '/' (Is a directory)"),
    flag("--context empty", "--controller-only --config CONFIG --context=", "argument --context",
         "expected a name"),
    flag("simulate --drain -1", "simulate --drain -1", "argument --drain",
         "expected a number >= 0"),
    flag("simulate --hours 0", "simulate --generate bursty --hours 0", "argument --hours",
         "expected a number > 0 and <= 744"),
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
         "expected a number >= 0, got 'inf'"),
    flag("tune --time-budget nan", "tune --config CONFIG --trace TRACE --time-budget nan",
         "--time-budget", "expected a number >= 0, got 'nan'"),
    flag("unknown flag", "--bogus", "unrecognized arguments", "--bogus"),
]  # fmt: skip


def run_case(case: Case, tmp_path: Path) -> tuple[list[str], Path | None]:
    """The case's argv, with its file written where the command reads it."""
    file = None
    if case.content is not None:
        file = tmp_path / {"check-config": "agentdash.yaml", "plan": "obs.json",
                           "simulate": "trace.jsonl"}[case.command]  # fmt: skip
        if isinstance(case.content, bytes):
            file.write_bytes(case.content)
        else:
            file.write_text(case.content, encoding="utf-8")
    argv = {
        "check-config": lambda: ["check-config", str(file)],
        "plan": lambda: ["plan", "--config", str(EXAMPLE), "--observations", str(file)],
        "simulate": lambda: ["simulate", "--config", str(EXAMPLE), "--trace", str(file)],
    }.get(case.command, lambda: flags(case.command))()
    return argv, file


def flags(command: str) -> list[str]:
    trace = str(ROOT / "examples" / "trace.jsonl")
    return command.replace("CONFIG", str(EXAMPLE)).replace("TRACE", trace).split(" ")


def is_field(where: str) -> bool:
    """A field path, as against a place in the text (`line 3 column 5`, `byte 0`) or none."""
    return bool(where) and not where.startswith(("line ", "byte ", "character "))


def exit_code(call: Callable[[], int]) -> int | str | None:
    try:
        return call()
    except SystemExit as exc:  # argparse exits by itself
        return exc.code


def test_there_are_at_least_60_cases() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_mistake_is_one_line_naming_file_and_field_and_exit_2(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, file = run_case(case, tmp_path)
    code = exit_code(lambda: main(argv))
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert err.endswith("\n")
    assert out == ""
    line = err.rstrip("\n")
    if file is not None:  # `agentdash: FILE[:LINE]: FIELD: expected ...`
        # a config's field is named with its line too, as `FILE:LINE:` (the YAML's own
        # errors name their line and column in the field's place)
        at_line = r":\d+" if case.command == "check-config" and is_field(case.where) else ""
        named = re.escape(f"{case.where}: ") if case.where else ""
        assert re.match(re.escape(f"agentdash: {file}") + at_line + ": " + named, line), line
    else:  # `agentdash[ simulate]: argument --flag: expected ...`
        assert case.where in line
    assert case.expected in line
    assert len(line) < 600  # a megabyte of input never comes back in the message


SUBPROCESS = ["config: binary", "config: alias bomb", "config: deep nesting",
              "config: interval .inf", "--http :99999", "observations: mean_task_seconds Infinity",
              "trace: t 1e9"]  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize("case_id", SUBPROCESS)
def test_no_traceback_reaches_the_terminal(case_id: str, tmp_path: Path) -> None:
    case = next(case for case in CASES if case.id == case_id)
    argv, _ = run_case(case, tmp_path)
    result = subprocess.run([AGENTDASH, *argv], capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert case.expected in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
def test_check_config_into_head_ends_quietly(tmp_path: Path) -> None:
    """A summary longer than the pipe holds, read by `head -1`: no BrokenPipeError."""
    data = copy.deepcopy(BASE)
    template = data["pools"]["acme-research"]
    for i in range(1000):
        data["pools"][f"p{i}"] = {
            **copy.deepcopy(template),
            "deployment": {"namespace": "agents", "name": f"p{i}"},
            "queue": {"stream": "AGENT_TASKS", "consumer": f"p{i}"},
        }
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump(data))
    result = subprocess.run(f"'{AGENTDASH}' check-config '{big}' | head -1", shell=True,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.stdout.startswith(f"{big}: OK: 1,005 pools")
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path, nats_server: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [AGENTDASH, "--controller-only", "--config", str(EXAMPLE), "--cluster", "simulated",
             "--nats-url", nats_server.url, "--http", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        f"agentdash: --http: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


@pytest.mark.parametrize(
    "section",
    [{"nats": {"tls": {"ca_file": "nope.pem"}}}, {"nats": {"creds_file": "nope.pem"}},
     {"nats": {"nkey_seed_file": "nope.pem"}},
     {"prometheus": {"url": "https://p", "tls": {"ca_file": "nope.pem"}}},
     {"prometheus": {"url": "https://p", "bearer_token_file": "nope.pem"}}],
    ids=lambda section: json.dumps(section),
)  # fmt: skip
def test_a_missing_credentials_file_is_one_line_and_exit_2_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: dict[str, Any]
) -> None:
    """No NATS is running here: the file is checked before anything is reached."""
    missing = tmp_path / "nope.pem"
    text = edited(**section).replace("nope.pem", str(missing))
    path = tmp_path / "agentdash.yaml"
    path.write_text(text)
    code = exit_code(lambda: main(["--controller-only", "--config", str(path)]))
    err = capsys.readouterr().err
    assert code == 2
    field = next(f for f in ("tls.ca_file", "creds_file", "nkey_seed_file", "bearer_token_file")
                 if f in json.dumps(section).replace('"tls": {"', "tls."))  # fmt: skip
    assert err == (
        f"agentdash: {path}: {next(iter(section))}.{field}: cannot read {missing}: "
        "No such file or directory\n"
    )


def test_a_missing_kubeconfig_is_refused_before_nats_is_contacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "kubeconfig"
    with socket.create_server(("127.0.0.1", 0)) as nats:
        url = f"nats://127.0.0.1:{nats.getsockname()[1]}"
        argv = ["--controller-only", "--config", str(EXAMPLE), "--kubeconfig", str(missing)]
        code = exit_code(lambda: main([*argv, "--nats-url", url]))
        nats.setblocking(False)
        with pytest.raises(BlockingIOError):  # no connection waits to be accepted
            nats.accept()
    assert code == 2
    assert capsys.readouterr().err == (
        f"agentdash: argument --kubeconfig: expected a file that can be read, got "
        f"'{missing}' (No such file or directory) (see agentdash --help)\n"
    )


def test_the_dashboard_without_a_cluster_says_so_in_one_line(
    tmp_path: Path, nats_server: Any
) -> None:
    """A kubeconfig it cannot use: the screen closes and one line says why (no page of
    traceback with the config in its locals). Textual draws its screen on stderr; what follows
    it is the line."""
    unusable = kubeconfig_without_context(tmp_path / "kubeconfig")
    result = subprocess.run(
        [AGENTDASH, "--config", str(EXAMPLE), "--nats-url", nats_server.url,
         "--kubeconfig", unusable],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TERM": "xterm"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Error" not in result.stderr
    assert "PoolConfig(" not in result.stderr
    last = result.stderr.rstrip("\n").rsplit("\x1b", 1)[-1]
    assert f"agentdash: kubeconfig {unusable}: " in last
    assert result.stderr.count("agentdash: ") == 1


def test_check_config_only_notes_a_file_it_cannot_read_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CA or a .creds file may be mounted only where the controller runs."""
    path = tmp_path / "agentdash.yaml"
    path.write_text(edited(nats={"creds_file": "/var/run/secrets/nats/agentdash.creds"}))
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: OK: 5 pools")
    assert out.endswith(
        "note: nats.creds_file: cannot read /var/run/secrets/nats/agentdash.creds: No such file "
        "or directory here; the controller will not start without it\n"
    )


@pytest.mark.parametrize(
    ("flag", "where", "expected"),
    [
        ("--events", "a-folder", "cannot write file: Is a directory"),
        ("--events", "missing/events.jsonl", "cannot write file: No such file or directory"),
        # --overrides is written too (each pin and pause): checked as --events is
        ("--overrides", "a-folder", "cannot write file: Is a directory"),
        ("--overrides", "missing/overrides.json", "cannot write file: No such file or directory"),
        ("--overrides", "binary.json", "expected UTF-8 text"),
    ],
)
def test_a_demo_file_it_cannot_use_is_one_line_and_exit_2_before_the_fleet_starts(
    flag: str, where: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "binary.json").write_bytes(b"\xd1\xff\x00{")
    path = tmp_path / where
    code = exit_code(lambda: main(["demo", "--headless", "--duration", "1", flag, str(path)]))
    out, err = capsys.readouterr()
    assert out == ""
    assert code == 2, err
    assert err == f"agentdash: {path}: {expected}\n"


def test_a_bad_overrides_file_leaves_the_events_file_of_an_earlier_run_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every file is checked before any is opened: a run that never starts empties nothing."""
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "summary"}\n')
    overrides = tmp_path / "binary.json"
    overrides.write_bytes(b"\xd1\xff\x00{")
    argv = ["demo", "--headless", "--events", str(events), "--overrides", str(overrides)]
    code = exit_code(lambda: main(argv))
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith(f"agentdash: {overrides}: ")
    assert events.read_text() == '{"type": "summary"}\n'


def test_a_demo_on_a_nats_server_that_is_not_there_stops_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--nats-url to a port nobody listens on: the demo says why on stderr, as `agentdash
    queues` does, and exits 1 within the connect wait, rather than retry for ever before it
    has started; its retries print nothing on stdout meanwhile."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    url = f"nats://127.0.0.1:{port}"
    code = exit_code(lambda: main(["demo", "--headless", "--duration", "1", "--nats-url", url]))
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == (
        f"agentdash: cannot reach NATS at {url}: ConnectionRefusedError [Errno 111] "
        f"Connect call failed ('127.0.0.1', {port})\n"
    )


def test_a_demo_nats_url_that_is_not_one_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = exit_code(lambda: main(["demo", "--headless", "--nats-url", "foo://bar"]))
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert "argument --nats-url: expected a URL like nats://HOST:PORT" in err


@pytest.mark.parametrize("where", ["missing/tuned.yaml", "read-only.yaml"])
def test_a_tuned_config_it_cannot_write_is_one_line_before_the_search(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the bundled example, where nothing changes: the path is refused all the same, before
    the search (which would take seconds and end well)."""
    output = tmp_path / where
    if where == "read-only.yaml":
        output.write_text("mine\n")
        output.chmod(0o444)
        granted = os.access  # root may write it all the same: refuse it as anyone else would
        monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != output and granted(p, mode))
    expected = "Permission denied" if output.exists() else "No such file or directory"
    argv = ["tune", "--config", str(BACKTEST_CONFIG), "--trace", str(BACKTEST_TRACE)]

    code = exit_code(lambda: main([*argv, "--trials", "16", "--output", str(output)]))

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # no search was run
    assert err == f"agentdash: {output}: cannot write file: {expected}\n"


def test_a_plot_it_cannot_write_is_one_line_before_the_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "missing" / "plot.svg"
    code = exit_code(lambda: main(["simulate", "--plot", str(plot)]))
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # no replay was run
    assert err == f"agentdash: {plot}: cannot write file: No such file or directory\n"
