"""`agentdash queues --nats-config` as an operator runs it: a new tenant needs no hand-written
permission, and what it prints is a configuration nats-server accepts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nats
import pytest
import yaml

from agentdash.nats_server import nats_server_binary
from controller.core.config import parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support.accounts import AccountsServer
from tests.support.cli import EXAMPLE, run


def with_tenant(tmp_path: Path, tenant: str, subject: str | None = None) -> Path:
    """The example config, plus a tenant with one pool (publishing on `subject`)."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["tenants"][tenant] = {"tier": "starter"}
    queue = {"stream": "AGENT_TASKS", "consumer": f"{tenant}-pool"}
    if subject is not None:
        queue["subject"] = subject
    raw["pools"][f"{tenant}-pool"] = {
        "tenant": tenant,
        "deployment": {"namespace": "agents", "name": f"{tenant}-pool"},
        "queue": queue,
    }
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def accepted(conf: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """nats-server's own check of a configuration (`-t`), every password variable set."""
    path = tmp_path / "nats.conf"
    path.write_text(conf)
    env = {**os.environ, "AGENTDASH_PASSWORD": "a"}
    for tenant in ("ACME", "GLOBEX", "INITECH", "UMBRELLA"):
        env |= {f"WORKER_{tenant}_PASSWORD": "w", f"PRODUCER_{tenant}_PASSWORD": "p"}
    return subprocess.run(
        [nats_server_binary(), "-c", str(path), "-t"],
        capture_output=True, text=True, timeout=30, check=False, env=env,
    )  # fmt: skip


def imports(conf: str, account: str) -> list[str]:
    """The subjects `account` imports, in the order the file lists them."""
    text = conf[conf.index(f"  {account}: {{") :].split("\n  }")[0]
    return [line.split('subject: "')[1].split('"')[0] for line in text.splitlines()
            if "subject:" in line]  # fmt: skip


@pytest.mark.e2e
def test_a_new_tenant_gets_an_account_importing_only_its_own_pool(tmp_path: Path) -> None:
    result = run("queues", "--config", with_tenant(tmp_path, "umbrella"), "--nats-config")
    assert result.returncode == 0, result.stderr
    conf = result.stdout
    assert 'user: "worker-umbrella", password: $WORKER_UMBRELLA_PASSWORD' in conf
    assert imports(conf, "TENANT_umbrella") == [
        "$JS.API.CONSUMER.MSG.NEXT.AGENT_TASKS.umbrella-pool",
        "$JS.ACK.AGENT_TASKS.umbrella-pool.>",
        "agentdash.usage.umbrella",
        "agentdash.busy.umbrella",
    ]
    # Its producers too: an account of their own, that reaches its pool's tasks alone.
    assert 'user: "producer-umbrella", password: $PRODUCER_UMBRELLA_PASSWORD' in conf
    assert imports(conf, "PRODUCERS_umbrella") == ["agent_tasks.umbrella-pool"]
    assert imports(conf, "PRODUCERS_acme") == [
        "agent_tasks_acme.acme-research",
        "agent_tasks_acme.acme-support",
    ]
    assert 'user: "producer",' not in conf  # no identity that submits for every tenant
    assert accepted(conf, tmp_path).returncode == 0


@pytest.mark.e2e
def test_a_subject_with_quotes_and_backslashes_stays_one_string(tmp_path: Path) -> None:
    hostile = 'tasks.a"b\\c}]{#x'
    result = run("queues", "--config", with_tenant(tmp_path, "umbrella", hostile), "--nats-config")
    assert result.returncode == 0, result.stderr
    check = accepted(result.stdout, tmp_path)
    assert check.returncode == 0, check.stderr


@pytest.mark.e2e
def test_tenants_sharing_a_password_variable_are_one_line_and_exit_2(tmp_path: Path) -> None:
    raw = yaml.safe_load(with_tenant(tmp_path, "a-b").read_text())
    raw["tenants"]["a_b"] = {"tier": "starter"}
    raw["pools"]["ab-pool"] = {**raw["pools"]["a-b-pool"], "tenant": "a_b"}
    raw["pools"]["ab-pool"]["queue"] = {"stream": "AGENT_TASKS", "consumer": "ab-pool"}
    raw["pools"]["ab-pool"]["deployment"] = {"namespace": "agents", "name": "ab-pool"}
    path = tmp_path / "clash.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = run("queues", "--config", path, "--nats-config")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "'a-b' and 'a_b'" in result.stderr
    assert "WORKER_A_B_PASSWORD and PRODUCER_A_B_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
async def test_the_new_tenants_worker_takes_its_task_under_the_generated_file(
    tmp_path: Path,
) -> None:
    config = with_tenant(tmp_path, "umbrella")
    conf = tmp_path / "generated.conf"
    conf.write_text(run("queues", "--config", config, "--nats-config").stdout)
    server = AccountsServer(tmp_path, conf)
    try:
        admin = await nats.connect(server.url("agentdash"))
        await ensure_queues(admin, parse_config(yaml.safe_load(config.read_text())))
        producer = await nats.connect(server.url("producer-umbrella"))
        worker = await nats.connect(server.url("worker-umbrella"))
        await producer.jetstream().publish("agent_tasks.umbrella-pool", b'{"id": "u1"}')
        tasks = await worker.jetstream().pull_subscribe_bind("umbrella-pool", "AGENT_TASKS")
        [task] = await tasks.fetch(1, timeout=5)
        await task.ack_sync()
        assert task.data == b'{"id": "u1"}'
        for client in (worker, producer, admin):
            await client.close()
    finally:
        server.stop()
