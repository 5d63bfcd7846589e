"""Every mistake in a config file is one line naming the file, the line and the field (or
where in the text), and exit 2: through the real entry point, and through the installed
command for a few, to show that no traceback reaches the terminal. The table's machinery is
tests/support/mistakes.py; flags, observations and traces are test_flag_mistakes.py."""

from __future__ import annotations

import gzip
import resource
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import AGENTDASH
from tests.support.mistakes import (
    TEXT,
    Case,
    P,
    assert_no_traceback_reaches_the_terminal,
    assert_one_line_naming_file_and_field_and_exit_2,
    config,
    edited,
    renamed_pool,
    text,
)

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)
# each anchor nests its list 30 levels around the alias of the one before: 3,000 levels once
# expanded, where max_replicas names the last
DEEP_ALIASES = "".join(
    f"a{i}: &a{i} {'[' * 30}{f'*a{i - 1}' if i else 1}{']' * 30}\n" for i in range(100)
) + TEXT.replace("max_replicas: 10", "max_replicas: *a99", 1)

CASES = [
    # what a file is, before any field
    config("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "byte 0",
           "expected UTF-8 text"),
    config("gzip", gzip.compress(TEXT.encode()), "byte 1",
           "expected UTF-8 text, got byte 0x8b (gzip data: decompress it first)"),
    config("latin-1", "cluster: {max_pods: 3}  # café\n".encode("latin-1"), "byte 29",
           "expected UTF-8 text, got byte 0xe9"),
    config("control character", "cluster:\x00 {}\n", "character 8", "expected printable text"),
    config("deep nesting", "a: " + "[" * 5000 + "]" * 5000, "line 1 column 35",
           "expected at most 32 levels of nesting"),
    # the first `*f` of `g:`, where the count of values passes the limit
    config("alias bomb", BOMB, "line 7 column 8",
           "expected at most 1,000,000 values once aliases are expanded"),
    config("nesting through aliases", DEEP_ALIASES, "line 2 column 39",
           "expected at most 32 levels of nesting"),
    config("recursive alias", "pools: &p {a: *p}\n", "line 1 column 15",
           "expected no alias inside its own anchor"),
    config("duplicate key", text("max_replicas: 10", "max_replicas: 10\n    max_replicas: 3"),
           f"line {TEXT.splitlines().index('    max_replicas: 10') + 2} column 5",
           "expected each key once in a mapping, got 'max_replicas' again"),
    config("huge integer", text("max_replicas: 10", "max_replicas: " + "9" * 5000),
           f"{P}.max_replicas", "expected a number <= 100000, got a 5000-digit number"),
    config("over 4 MiB", "# " + "x" * (4 << 20) + "\n", "", "expected YAML of at most 4 MiB"),
    config("bad syntax", "cluster: {max_pods: [1, 2\n", "line 2 column 1", "expected valid YAML"),
    config("empty", "", "", "expected a mapping at the top level, got null"),
    config("a list", "- pools\n", "", "expected a mapping at the top level, got ['pools']"),
    # YAML reads TOML's `key = value` lines as one string, which was not said
    config("TOML", 'max_pods = 24\nnamespace = "agents"\n', "", "expected a mapping at the top "
           "level, got 'max_pods = 24 namespace = \"agents\"'"),
    # keys are names, and booleans are JSON's: YAML 1.1 reads `~`, `no` and `off` otherwise
    config("a null key", text("controller: {interval_seconds: 1}",
           "controller: {interval_seconds: 1, ~: 5}"),
           f"line {TEXT.splitlines().index('controller: {interval_seconds: 1}') + 1} column 35",
           "expected a key that is a name, got '~' (YAML reads it as null; quote it if it is one)"),
    config("a date key", "2001-01-01: 6\n", "line 1 column 1",
           "expected a key that is a name, got '2001-01-01' (YAML reads it as a date"),
    config("hard_cap yes", text("hard_cap: true", "hard_cap: yes"), "tenants.acme.hard_cap",
           "expected true or false, got 'yes'"),
    config("hard_cap off", text("hard_cap: true", "hard_cap: off"), "tenants.acme.hard_cap",
           "expected true or false, got 'off'"),
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
    config("target lag 1e-310", text("target_lag_per_replica: 2", "target_lag_per_replica: 1e-310"),
           f"{P}.target_lag_per_replica", "expected a number >= 1e-06, got 1e-310"),
    # YAML's tags are said as YAML, not as the Python they load as
    config("a date", text("max_replicas: 10", "max_replicas: 2001-12-14"), f"{P}.max_replicas",
           "expected an integer, got the date 2001-12-14"),
    config("a !!binary value", text("max_replicas: 10", "max_replicas: !!binary aGVsbG8="),
           f"{P}.max_replicas", "expected an integer, got binary data (5 bytes)"),
    config("a set", text("max_replicas: 10", "max_replicas: !!set {b, a}"), f"{P}.max_replicas",
           "expected an integer, got a set {'a', 'b'}"),
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
    # 0 reads as "unlimited" in many tools: the field left out is that here
    config("budget 0", edited(tenants__acme__daily_token_budget=0),
           "tenants.acme.daily_token_budget",
           "expected a number greater than 0, got 0 (leave it out for no budget)"),
    config("tenant max_pods 0", edited(tenants__acme__max_pods=0), "tenants.acme.max_pods",
           "expected a number greater than 0, got 0 (leave it out for no cap but the "
           "cluster's)"),
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
    # in digits, as written: a limit of 1,500,000 was said "(1.5e+06)", and 3000000 "3e+06"
    config("a replica over a large provider's rpm", text(
           "openai:    {rpm: 600}", "openai:    {rpm: 1000000}").replace(
           "rpm_per_replica: 30", "rpm_per_replica: 3000000", 1),
           f"{P}.rpm_per_replica", "expected at most provider openai's rpm x headroom "
           "(1500000), so that one replica fits, got 3000000"),
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
    # a key given without its suffix is too short for a slip by spelling, and is one
    config("key without its _file", edited(nats={"creds": "/x.creds"}), "nats.creds",
           "unknown key (did you mean creds_file?)"),
    config("key without its _seconds", text("max_replicas: 10", "max_replicas: 10\n"
           "    cold_start: 5"), f"{P}.cold_start",
           "unknown key (did you mean cold_start_seconds?)"),
    config("no pools", edited(pools={}), "pools", "expected at least one pool, got none"),
    config("empty pool name", renamed_pool(""), "pools", "expected a pool name of 1-63"),
    config("pool name with a dot", renamed_pool("acme.research"), "pools",
           "expected a pool name of 1-63 lowercase letters a-z, digits and '-'"),
    config("pool name *", renamed_pool("acme*"), "pools", "got 'acme*'"),
    config("pool name >", renamed_pool(">"), "pools", "got '>'"),
    config("pool name with a space", renamed_pool("acme research"), "pools", "got 'acme research'"),
    config("pool name in capitals", renamed_pool("Acme"), "pools", "got 'Acme'"),
    config("pool name too long", renamed_pool("a" * 64), "pools", "expected a pool name of 1-63"),
    config("pool name a number", text("  acme-research:", "  12:"),
           f"line {TEXT.splitlines().index('  acme-research:') + 1} column 3",
           "expected a key that is a name, got '12' (YAML reads it as a number; quote it if it is "
           "one)"),
    config("tenant name with a dot", text("  acme:    {tier", "  ac.me:    {tier"),
           "tenants", "got 'ac.me'"),
    config("tier name with a space", text("  enterprise: {priority", "  'gold tier': {priority"),
           "tiers", "expected a name of 1-255 letters A-Z or a-z, digits, '-' and '_'"),
    # 'letters' alone reads as any: ø and é are letters, and NATS_NAME takes none of them
    config("tier name with accents", text("  enterprise: {priority", "  'gøld_tiér': {priority"),
           "tiers", "letters A-Z or a-z, digits, '-' and '_' (no '.', '*', '>', spaces or "
           "other characters: it is used in NATS subjects), got 'gøld_tiér'"),
    config("pool name with an umlaut", renamed_pool("pöol"), "pools",
           "1-63 lowercase letters a-z, digits and '-'"),
    config("namespace in capitals", text("namespace: agents, name: acme-research",
           "namespace: Agents, name: acme-research"), f"{P}.deployment.namespace",
           "expected a Kubernetes namespace"),
    config("deployment name with _", text("name: acme-research}", "name: acme_research}"),
           f"{P}.deployment.name", "expected a Kubernetes name"),
    config("deployment name -x", text("name: acme-research}", "name: -x}"),
           f"{P}.deployment.name", "got '-x'"),
    config("stream with a dot", text("stream: AGENT_TASKS_ACME, consumer: acme-research",
           "stream: AGENT.TASKS, consumer: acme-research"), f"{P}.queue.stream",
           "no '.', '*', '>', spaces or other characters"),
    config("consumer with *", text("consumer: acme-research}", "consumer: 'acme*'}"),
           f"{P}.queue.consumer", "got 'acme*'"),
    config("subject with >", text("consumer: acme-research}",
           "consumer: acme-research, subject: 'tasks.>'}"), f"{P}.queue.subject",
           "expected a NATS subject"),
    config("subject with an empty token", text("consumer: acme-research}",
           "consumer: acme-research, subject: 'tasks..a'}"), f"{P}.queue.subject", "none empty"),
    # accepted once, and a stream made on it: a NUL and an escape sequence in every log line
    config("subject with control characters", text("consumer: acme-research}",
           'consumer: acme-research, subject: "tasks.\\e[31mRED\\x00"}'), f"{P}.queue.subject",
           "no '*', '>', spaces or control characters"),
    # the subjects and streams NATS and agentdash keep for themselves: producers publish on a
    # pool's subject and workers pull from its stream, so either would reach what they trust
    config("subject in NATS's KV", text("consumer: acme-research}",
           "consumer: acme-research, subject: $KV.agentdash_overrides.overrides}"),
           f"{P}.queue.subject", "expected a task subject outside NATS's own subjects ($...), "
           "got $KV.agentdash_overrides.overrides"),
    config("subject on a tenant's usage", text("consumer: acme-research}",
           "consumer: acme-research, subject: agentdash.usage.acme}"), f"{P}.queue.subject",
           "outside agentdash's own subjects (agentdash...), got agentdash.usage.acme"),
    config("subject in the inboxes", text("consumer: acme-research}",
           "consumer: acme-research, subject: _INBOX.x}"), f"{P}.queue.subject",
           "outside reply inboxes (_INBOX...)"),
    config("stream a KV bucket", text("stream: AGENT_TASKS_ACME, consumer: acme-research",
           "stream: KV_agentdash_overrides, consumer: acme-research"), f"{P}.queue.stream",
           "expected a stream outside JetStream's KV and object store streams"),
    config("stream agentdash's own", text("stream: AGENT_TASKS_ACME, consumer: acme-research",
           "stream: AGENTDASH_AUDIT, consumer: acme-research"), f"{P}.queue.stream",
           "expected a stream outside agentdash's own streams (AGENTDASH...)"),
    config("default subject an inbox", text("stream: AGENT_TASKS_ACME, consumer: acme-research",
           "stream: _INBOX, consumer: acme-research"), f"{P}.queue.stream",
           "expected a task subject outside reply inboxes (_INBOX...), got _inbox.acme-research"),
    # what pools share
    config("two pools on one Deployment", text("name: acme-support}", "name: acme-research}"),
           "pools.acme-support.deployment", "expected a deployment no other pool uses, got "
           "agents/acme-research (also pools.acme-research)"),
    config("two pools on one consumer", text("consumer: acme-support}", "consumer: acme-research}"),
           "pools.acme-support.queue.consumer", "expected a consumer no other pool uses"),
    config("two pools on one subject", text("consumer: acme-support}",
           "consumer: acme-support, subject: agent_tasks_acme.acme-research}"),
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
    config("nats url port 0", edited(nats={"url": "nats://nats:0"}), "nats.url",
           "expected a URL like nats://HOST:PORT (nats, tls, ws, wss), got 'nats://nats:0'"),
    config("prometheus url port 00", edited(prometheus={"url": "http://p:00"}), "prometheus.url",
           "expected a URL like http(s)://HOST[:PORT] (http, https), got 'http://p:00'"),
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
]  # fmt: skip


def test_there_are_at_least_60_cases() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_mistake_is_one_line_naming_file_and_field_and_exit_2(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_naming_file_and_field_and_exit_2(case, tmp_path, capsys)


SUBPROCESS = ["config: binary", "config: alias bomb", "config: deep nesting",
              "config: nesting through aliases", "config: interval .inf"]  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize("case_id", SUBPROCESS)
def test_no_traceback_reaches_the_terminal(case_id: str, tmp_path: Path) -> None:
    case = next(case for case in CASES if case.id == case_id)
    assert_no_traceback_reaches_the_terminal(case, tmp_path)


@pytest.mark.e2e
def test_a_long_list_is_refused_within_the_memory_of_a_small_container(tmp_path: Path) -> None:
    """Two million values in 4 MiB (`[1,1,...]`) are refused at the millionth: all of them
    were composed before the list's size was known, 800 MB, and under a 640 MB limit the
    refusal was a MemoryError's traceback."""
    path = tmp_path / "agentdash.yaml"
    path.write_text("pools: [" + ",".join(["1"] * 2_000_000) + "]\n")
    assert path.stat().st_size <= 4 << 20

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (640 << 20, 640 << 20))

    result = subprocess.run(
        [AGENTDASH, "check-config", str(path)],
        capture_output=True, text=True, timeout=120, check=False, preexec_fn=limit_memory,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"agentdash: {path}: line 1 column 2000003: expected at most 1,000,000 values once "
        "aliases are expanded\n"
    )
