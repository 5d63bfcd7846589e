"""`agentdash queues --nats-config`: a nats-server configuration that isolates tenants the way
NATS does, with accounts.

Subject permissions inside one account cannot keep a tenant out: a worker allowed to send one
JetStream request may set its reply subject to `$KV.agentdash_leader.leader`, and the server
itself then writes the answer there; and every user may read every `_INBOX.>`, where other
tenants' pulled tasks arrive. An account is a subject namespace of its own, so:

- agentdash's account holds the task streams, the buckets (lease, overrides, history, spend),
  the audit, the decisions and the events. Only agentdash's users are in it, and it alone has
  JetStream, with limits.
- Each tenant's workers are in an account of their own. It imports from agentdash's account
  only what they need: the next task from their own pools' consumers, the acks of those
  tasks, and their own tenant's usage and busy subjects. A server answer to a request made
  there goes back there, and their inboxes are theirs alone.
- Each tenant's producers are in an account of their own too, that imports its pools' task
  subjects and nothing else: whoever submits globex's tasks cannot put one in acme's queues
  (spending acme's budget, taking acme's pods). A gateway that submits for several tenants
  connects once for each, with that tenant's password.
- Workers and producers may publish only on what their account imports and subscribe only
  to their inboxes: nothing they send comes back to them, for the server to hold for a
  connection of theirs that does not read.
- A tenant's account has limits on its connections, subscriptions and what one message may
  carry, from the most pods its pools may run: one worker's password cannot take all the
  server has. Each tenant's producers' account has limits too (`--producer-connections`):
  the config does not say how many producers a tenant has, and their password is no more
  trusted.

`render` is pure: the config in, the file's text out. Passwords are nats-server variables
(`$AGENTDASH_PASSWORD`, `$WORKER_<TENANT>_PASSWORD`, `$PRODUCER_<TENANT>_PASSWORD`), read
from the server's environment; swap them for nkeys in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from controller.coordination import (
    audit_trail,
    handover,
    history_stream,
    lease,
    overrides_bucket,
    spend_handover,
)
from controller.core.config import Config
from controller.core.printable import printable
from controller.core.wording import in_words
from controller.sources.queue_plan import STREAM_BYTES
from controller.sources.usage import BUSY_SUBJECT, USAGE_SUBJECT

AGENTDASH = "AGENTDASH"
OWN_BYTES = (
    lease.BUCKET_BYTES
    + overrides_bucket.BUCKET_BYTES
    + audit_trail.AUDIT_MAX_BYTES
    + handover.BUCKET_BYTES
    + spend_handover.BUCKET_BYTES
    + history_stream.MAX_BYTES
)
"""What agentdash's own buckets and streams may hold at most."""
GIB = 1024**3
MAX_MEM = 256 * 1024**2
STREAMS_SPARE = 16
"""Streams beyond the config's task streams: agentdash's own six and room for an operator's."""
CONSUMERS_SPARE = 1000
"""Consumers beyond two a pool: each dashboard watches the buckets and reads the events with
consumers of its own."""
CONNECTIONS_PER_POD = 4
"""A tenant's connections per pod its pools may run: a pod's own, another if it keeps one
apart, twice that while a rolling update surges."""
CONNECTIONS_SPARE = 16
SUBSCRIPTIONS_PER_CONNECTION = 64
"""A worker binds to its consumer and fetches: a few subscriptions (inboxes) each."""
WORKER_PAYLOAD = 64 * 1024
"""The most a worker may publish at once: an ack, a pull request, a report (4 KiB at most).
Tasks delivered to it may be larger: the limit is on what it sends."""


PRODUCER_CONNECTIONS = 1024
"""Each tenant's producers' connections by default (`agentdash queues --nats-config
--producer-connections N`). With no limit, a producer password could open connections until
the server (64K at most, or its file handles) had none left for agentdash's own."""
INBOXES = "_INBOX.>"
"""What workers and producers may subscribe to: the answers to their requests (a fetch, an
ack, a publish JetStream acknowledges), on nats.py's and the other clients' default inbox
prefix."""
PRODUCER_PAYLOAD = 1024**2
"""The most a producer may publish at once: a task, as large as nats-server's own default."""


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """What one tenant's account may hold of the server, so that no tenant can take all of
    it: with no limit, one worker's password could open connections until the server had no
    file handle left for agentdash's own."""

    connections: int
    subscriptions: int
    payload: int

    def line(self) -> str:
        return (
            f"limits: {{max_connections: {self.connections}, "
            f"max_subscriptions: {self.subscriptions}, max_payload: {self.payload}}}"
        )


def tenant_limits(config: Config, tenant: str) -> AccountLimits:
    """A tenant's limits, from the most pods its pools may run."""
    pods = sum(p.max_replicas for p in config.pools.values() if p.tenant == tenant)
    connections = CONNECTIONS_PER_POD * pods + CONNECTIONS_SPARE
    return AccountLimits(connections, SUBSCRIPTIONS_PER_CONNECTION * connections, WORKER_PAYLOAD)


def producer_limits(connections: int) -> AccountLimits:
    """One tenant's producers' limits: `connections`, a worker's subscriptions for each, a
    task's size."""
    return AccountLimits(connections, SUBSCRIPTIONS_PER_CONNECTION * connections, PRODUCER_PAYLOAD)


@dataclass(frozen=True, slots=True)
class Grant:
    """One subject of agentdash's account that one other account may use."""

    subject: str
    account: str
    streamed: bool = False
    """Answered with many messages (a pull request's tasks and its status messages)."""


def tenant_account(tenant: str) -> str:
    return f"TENANT_{tenant}"


def worker_user(tenant: str) -> str:
    return f"worker-{tenant}"


def producer_account(tenant: str) -> str:
    return f"PRODUCERS_{tenant}"


def producer_user(tenant: str) -> str:
    return f"producer-{tenant}"


def password_variable(user: str) -> str:
    """The environment variable nats-server reads a user's password from."""
    return "".join(c if c.isalnum() else "_" for c in user).upper() + "_PASSWORD"


def worker_grants(config: Config, tenant: str) -> Iterator[Grant]:
    """What a tenant's workers need: their pools' next tasks and acks, their usage and busy."""
    account = tenant_account(tenant)
    for pool in config.pools.values():
        if pool.tenant != tenant:
            continue
        stream, consumer = pool.queue.stream, pool.queue.consumer
        yield Grant(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}", account, streamed=True)
        yield Grant(f"$JS.ACK.{stream}.{consumer}.>", account)  # ack, nak, in progress, term
    yield Grant(f"{USAGE_SUBJECT}.{tenant}", account)
    yield Grant(f"{BUSY_SUBJECT}.{tenant}", account)


def producer_grants(config: Config, tenant: str) -> Iterator[Grant]:
    """What a tenant's producers need: its own pools' task subjects (JetStream's acks of
    their tasks come back through them), no other tenant's."""
    account = producer_account(tenant)
    pools = [name for name, pool in config.pools.items() if pool.tenant == tenant]
    for subject in sorted(config.subject(name) for name in pools):
        yield Grant(subject, account)


def max_file(streams: int, stream_bytes: int) -> int:
    """agentdash's account's disk: each task stream's most, and room for agentdash's own,
    rounded up to a GiB. A task stream full refuses new tasks without taking that room:
    the lease and the overrides can still be written."""
    total = streams * stream_bytes + OWN_BYTES
    return -(-total // GIB) * GIB


def render(
    config: Config,
    source: str,
    *,
    stream_bytes: int = STREAM_BYTES,
    producer_connections: int = PRODUCER_CONNECTIONS,
) -> str:
    """The whole configuration file; `source` names the config it came from, `stream_bytes`
    what each task stream may hold (as `agentdash queues --max-bytes` makes them),
    `producer_connections` how many connections each tenant's producers may open together."""
    tenants = sorted({pool.tenant for pool in config.pools.values()})
    _check_users(tenants)
    grants = [g for t in tenants for g in worker_grants(config, t)]
    grants += [g for t in tenants for g in producer_grants(config, t)]
    streams = len({pool.queue.stream for pool in config.pools.values()})
    lines = [
        *_HEADER.format(source=printable(source)).splitlines(),
        "jetstream: enabled",
        "",
        "accounts: {",
        f"  {AGENTDASH}: {{",
        "    # The daemon and the dashboards: every stream and bucket is here, with limits.",
        # In bytes: nats-server reads 10G as 10,000,000,000, not 10 GiB.
        f"    jetstream: {{max_mem: {MAX_MEM}, max_file: {max_file(streams, stream_bytes)}, "
        f"max_streams: {streams + STREAMS_SPARE}, "
        f"max_consumers: {2 * len(config.pools) + CONSUMERS_SPARE}}}",
        f"    users: [{_user('agentdash')}]",
        "    exports: [",
        *(f"      {_export(g)}" for g in grants),
        "    ]",
        "  }",
    ]
    for tenant in tenants:
        lines += _account(
            tenant_account(tenant),
            f"Tenant {tenant}'s workers: their pools' tasks, their usage and busy reports.",
            worker_user(tenant),
            [g for g in grants if g.account == tenant_account(tenant)],
            tenant_limits(config, tenant),
        )
    for tenant in tenants:
        lines += _account(
            producer_account(tenant),
            f"Tenant {tenant}'s producers: its pools' task subjects (and JetStream's acks).",
            producer_user(tenant),
            [g for g in grants if g.account == producer_account(tenant)],
            producer_limits(producer_connections),
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _account(
    name: str, comment: str, user: str, grants: list[Grant], limits: AccountLimits | None = None
) -> list[str]:
    return [
        f"  {name}: {{",
        f"    # {comment}",
        *([f"    {limits.line()}"] if limits is not None else []),
        *_confined_user(user, [g.subject for g in grants]),
        "    imports: [",
        *(
            f"      {{service: {{account: {AGENTDASH}, subject: {_quote(g.subject)}}}}}"
            for g in grants
        ),
        "    ]",
        "  }",
    ]


def _user(name: str) -> str:
    return f"{{{_credentials(name)}}}"


def _credentials(name: str) -> str:
    return f"user: {_quote(name)}, password: ${password_variable(name)}"


def _confined_user(name: str, subjects: list[str]) -> list[str]:
    """A user that may publish only on `subjects` (its imports) and subscribe only to its
    inboxes. Its account is its own, but the server's memory is everyone's: a connection
    that subscribes and never reads has the server hold what comes for it (64 MiB), and
    ten of a worker's connections fed by its own publishes took a server from 18 MB to
    1.3 GB. Nothing it may send now comes back to it but the answers to its requests."""
    return [
        f"    users: [{{{_credentials(name)}, permissions: {{",
        "      # Where its imports reach, and answers to its own requests (nothing it sends",
        "      # comes back to it to be held for a connection that does not read).",
        "      publish: [",
        *(f"        {_quote(subject)}" for subject in subjects),
        "      ]",
        f"      subscribe: [{_quote(INBOXES)}]",
        "    }}]",
    ]


def _export(grant: Grant) -> str:
    streamed = ", response_type: stream" if grant.streamed else ""
    return f"{{service: {_quote(grant.subject)}{streamed}, accounts: [{grant.account}]}}"


def _quote(text: str) -> str:
    """A double-quoted nats-server string: JSON's escapes are the parser's."""
    return json.dumps(text)


def _check_users(tenants: list[str]) -> None:
    """Two tenants whose passwords would come from one variable cannot both be served: one
    tenant's workers or producers would log in as the other's."""
    owner: dict[str, str] = {}
    for tenant in tenants:
        variables = [password_variable(u) for u in (worker_user(tenant), producer_user(tenant))]
        shared = [v for v in variables if owner.setdefault(v, tenant) != tenant]
        if shared:
            other = owner[shared[0]]
            said = "variables" if len(shared) > 1 else "variable"
            raise ValueError(
                f"tenants {other!r} and {tenant!r} would share the password {said} "
                f"{in_words(shared)}: rename one"
            )


_HEADER = """\
# nats-server configuration for agentdash: one NATS account per tenant.
# Generated from {source} by `agentdash queues --config FILE --nats-config`;
# generate it again after adding a tenant or a pool.
#
# agentdash's account (AGENTDASH) holds the task streams, the lease, the overrides, the
# history, the audit, the decisions and the events; only agentdash's users are in it.
# Each tenant's workers are in an account of their own (TENANT_<tenant>) that imports
# only the next task of their own pools' consumers, the acks of those tasks, and their own
# agentdash.usage.<tenant> and agentdash.busy.<tenant>. An answer to a request a worker makes
# lands in the worker's own account, whatever reply subject it sets, and its inboxes are its
# own. A tenant's account has limits (connections, subscriptions, what one message may
# carry) from the most pods its pools run. Each tenant's producers are in an account of
# their own too (PRODUCERS_<tenant>, user producer-<tenant>) that may only publish that
# tenant's pools' tasks, within limits of its own (--producer-connections): a gateway that
# submits for several tenants connects once for each, with that tenant's password.
# Workers and producers may publish only where their imports reach and subscribe only to
# their inboxes (_INBOX.>).
#
# Workers bind to their consumer (nats.py: js.pull_subscribe_bind(consumer, stream)) and
# fetch; they cannot look up or create consumers. Passwords come from the server's
# environment (AGENTDASH_PASSWORD, WORKER_<TENANT>_PASSWORD, PRODUCER_<TENANT>_PASSWORD); in
# production prefer an nkey or a creds file per user. docs/security.md says what rests on it.
#
#   nats-server -c nats-accounts.conf
"""
