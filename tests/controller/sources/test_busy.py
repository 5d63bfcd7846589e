"""Busy reports on a real nats-server: a worker's report of its tasks in hand reaches the
ledger, a forged or malformed one is counted and dropped, and the ledger stays bounded. And
the plan of pod-deletion-cost marks that a scale-down follows."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.aio.msg import Msg

from controller.core.bad_messages import BadMessages
from controller.core.busy import FORGET_S, BusyPods, plan_marks
from controller.core.config import Config, ConfigError, parse_config
from controller.core.model import Pod
from controller.runtime.metrics import Metrics
from controller.sources.usage import BusyReport, NatsBusySource, check_busy
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.strategies import examples

GOOD = {"tenant": "acme", "pool": "research", "pod": "research-7d9f-abcde", "busy": 2}


def fleet() -> Config:
    return config({"research": pool("acme", max_replicas=4), "coder": pool("globex")})


def report(**fields: Any) -> bytes:
    return json.dumps({**GOOD, **fields}).encode()


FORGED: list[tuple[str, bytes]] = [
    ("acme", report(busy=-1)),
    ("acme", report(busy=10_001)),
    ("acme", report(busy=1.5)),
    ("acme", report(busy="0")),
    ("acme", report(busy=True)),
    ("acme", b'{"tenant": "acme", "pool": "research", "pod": "p", "busy": NaN}'),
    ("acme", report(pod="Research_Pod")),  # not a DNS-1123 name
    ("acme", report(pod="x" * 254)),
    ("acme", report(pod="research..pod")),  # an empty part
    ("acme", report(pod="research.-pod")),
    ("acme", report(pod="")),
    ("acme", report(pod=None)),
    ("acme", report(pool="nope")),  # not in the config
    ("acme", report(pool="coder")),  # globex's pool, reported as acme's
    ("acme", report(tenant="evil")),  # an unknown tenant
    ("globex", report()),  # acme's report on globex's subject
    ("acme", report(padding="x" * 5000)),  # too big
    ("acme", b"\xff\xfe not JSON"),
    ("acme", b"[]"),
]


async def test_busy_reports_reach_the_ledger_and_forged_ones_are_counted_and_dropped(
    nc: Client,
) -> None:
    cfg, clock = fleet(), FakeClock()
    bad = BadMessages()
    source = NatsBusySource(nc, cfg, clock, bad=bad)
    await source.start()
    pods = ["research-7d9f-abcde", "research-7d9f-fghij"]

    for tenant, body in FORGED:
        await nc.publish(f"agentdash.busy.{tenant}", body)
    await nc.publish("agentdash.busy.acme", report())
    await nc.publish("agentdash.busy.acme", report(pod=pods[1], busy=0))

    await eventually(lambda: bad.counts["busy"] == len(FORGED))
    await eventually(lambda: source.ledger.known("research") == 2)
    assert source.ledger.idle("research", pods, clock()) == {pods[1]}
    assert source.ledger.known("coder") == 0  # the forged one for globex's pool left nothing
    await nc.publish("agentdash.busy.acme", report(busy=0))  # its task done: idle too
    await eventually(lambda: source.ledger.idle("research", pods, clock()) == set(pods))

    exposed = Metrics(cfg, bad).render().decode()
    assert f'agentdash_bad_messages_total{{source="busy"}} {len(FORGED)}.0' in exposed


@pytest.mark.parametrize(
    "pod", ["a" * 253, "web-" + "x" * 70 + ".pod-1", "p", "1.2.3"], ids=["253", "70", "1", "dots"]
)
def test_any_name_kubernetes_gives_a_pod_is_believed(pod: str) -> None:
    """Kubernetes takes an object name of up to 253 characters with no bound on a part
    between dots (IsDNS1123Subdomain): a pod with a part over 63 had its every report dropped,
    and a Deployment so named was refused in the config."""
    assert check_busy(report(pod=pod), "agentdash.busy.acme", fleet()) == BusyReport(
        tenant="acme", pool="research", pod=pod, busy=2
    )
    data = {"tiers": {"t": {"priority": 1}}, "tenants": {"acme": {"tier": "t"}},
            "pools": {"research": {"tenant": "acme", "deployment": {"name": pod},
                                   "queue": {"stream": "S", "consumer": "research"}}}}  # fmt: skip
    assert parse_config(data).pools["research"].deployment.name == pod


def test_the_ledger_keeps_only_configured_pools_and_a_bounded_number_of_pods() -> None:
    ledger = BusyPods(fleet())
    ledger.report("not-a-pool", "p-1", 0, 0.0)
    assert ledger.known("not-a-pool") == 0
    for i in range(10_000):  # a flood of made-up pod names on the tenant's own subject
        ledger.report("research", f"fake-{i}", 0, float(i))
    assert ledger.known("research") == 16  # the cap: max(16, 2 x max_replicas of 4)
    ledger.report("research", "real-1", 0, 10_000.0)  # a real pod still gets in
    assert ledger.idle("research", ["real-1"], 10_000.0) == {"real-1"}


def test_pods_are_forgotten_when_gone_from_the_pool_or_silent_for_15_minutes() -> None:
    ledger = BusyPods(fleet())
    ledger.report("research", "a", 0, 0.0)
    ledger.report("research", "b", 0, 0.0)
    ledger.report("research", "c", 0, 600.0)
    assert ledger.idle("research", ["a", "b", "c"], 600.0) == {"a", "b", "c"}
    assert ledger.idle("research", ["a", "c"], 600.0) == {"a", "c"}  # b is gone
    assert ledger.known("research") == 2
    # a said nothing for 15 minutes: perhaps a lost report; no longer known idle.
    assert ledger.idle("research", ["a", "c"], FORGET_S) == {"c"}
    assert ledger.known("research") == 1


def test_a_busy_pod_is_not_idle_until_it_says_so() -> None:
    ledger = BusyPods(fleet())
    ledger.report("research", "a", 0, 0.0)
    ledger.report("research", "a", 1, 1.0)
    assert ledger.idle("research", ["a"], 2.0) == set()
    ledger.report("research", "a", 0, 3.0)
    assert ledger.idle("research", ["a"], 4.0) == {"a"}


def pod(name: str, started: float, *, ready: bool = True, phase: str = "Running") -> Pod:
    return Pod(name, "research", phase, ready, started)


def test_the_plan_marks_idle_pods_newest_first_and_counts_unready_ones_as_victims() -> None:
    pods = [pod("old", 1), pod("mid", 2), pod("new", 3), pod("busy", 4)]
    assert plan_marks(pods, set(), {"old", "mid", "new"}, 2) == (("new", "mid"), ())
    starting = [*pods, pod("starting", 5, ready=False, phase="Pending")]
    assert plan_marks(starting, set(), {"old", "mid", "new"}, 2) == (("new",), ())
    assert plan_marks(starting, set(), {"old"}, 1) == ((), ())  # the unready one goes
    # Terminating pods are already leaving: neither victims nor candidates.
    leaving = [*pods, pod("leaving", 6, ready=False, phase="Terminating")]
    assert plan_marks(leaving, set(), {"old"}, 1) == (("old",), ())


def test_the_plan_keeps_marks_on_idle_pods_and_removes_them_from_busy_ones() -> None:
    pods = [pod("a", 1), pod("b", 2), pod("c", 3)]
    # a is marked and idle: kept, no request; c was marked and is busy now: unmarked.
    assert plan_marks(pods, {"a", "c"}, {"a", "b"}, 1) == ((), ("c",))
    assert plan_marks(pods, {"a", "c"}, {"a", "b"}, 2) == (("b",), ("c",))
    # Fewer idle pods than victims: the rest is the ReplicaSet's choice, as before.
    assert plan_marks(pods, set(), {"a"}, 3) == (("a",), ())


def test_the_switch_is_a_boolean_and_a_mistake_names_its_field() -> None:
    assert fleet().kubernetes.pod_deletion_cost  # on by default
    data = {"tiers": {"t": {"priority": 1}}, "tenants": {"acme": {"tier": "t"}},
            "pools": {"research": {"tenant": "acme", "deployment": {"name": "research"},
                                   "queue": {"stream": "S", "consumer": "research"}}},
            "kubernetes": {"pod_deletion_cost": "yes"}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"kubernetes\.pod_deletion_cost"):
        parse_config(data, "agentdash.yaml")
    data["kubernetes"] = {"pod_deletion_cost": False}
    assert not parse_config(data).kubernetes.pod_deletion_cost


junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
names = st.sampled_from(["acme", "globex", "research", "coder", "a-pod", ""]) | st.text(max_size=12)
busy_reports = st.fixed_dictionaries(
    {}, optional={"tenant": names, "pool": names, "pod": names | junk, "busy": junk}
)


@settings(max_examples=examples(400), deadline=None)
@given(
    body=st.one_of(st.binary(max_size=200), busy_reports.map(lambda r: json.dumps(r).encode())),
    tenant=names,
)
async def test_a_busy_report_is_believed_only_in_bounds(body: bytes, tenant: str) -> None:
    source = NatsBusySource(cast(Client, None), fleet(), clock=lambda: 0.0)  # no I/O needed
    await source._on_report(Msg(cast(Any, None), f"agentdash.busy.{tenant}", data=body))
    kept = source.ledger.known("research") + source.ledger.known("coder")
    assert source.bad.counts["busy"] + kept == 1  # believed, or dropped and counted


@pytest.mark.parametrize(("busy", "counted"), [(2.0, 2), (1e1, 10), (0.0, 0), (1.5, None)])
def test_a_whole_busy_count_written_as_a_float_is_believed(
    busy: float, counted: int | None
) -> None:
    """As a usage report's tokens: a worker that keeps its count as a float (JavaScript) sends
    2.0, dropped, and its pod read as idle; 1.5 tasks is still no count."""
    checked = check_busy(report(busy=busy), "agentdash.busy.acme", fleet())
    assert (checked.busy if isinstance(checked, BusyReport) else None) == counted
