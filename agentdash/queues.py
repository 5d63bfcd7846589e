"""`agentdash queues`: the JetStream streams and consumers a config reads, checked or created.

    agentdash queues --config FILE [--apply] [--nats-url URL] [--ack-wait S] [--max-bytes SIZE]
    agentdash queues --config FILE --nats-config [--max-bytes SIZE] [--producer-connections N]

What is wanted and how it compares is in controller.sources.queue_plan; this module
connects, prints and chooses the exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any, get_args

import nats.errors
import nats.js.errors

from agentdash import flags
from agentdash.cancelling import cancel_until_done
from agentdash.errors import StartError
from agentdash.help_text import FilledDescription
from agentdash.nats_accounts import PRODUCER_CONNECTIONS, render
from agentdash.secret_files import warn_open_secret_files
from agentdash.shared_streams import warn_shared_streams
from controller.core.config import Config, ConfigError, check_files, load_config
from controller.core.config_types import DAY
from controller.core.printable import loggable
from controller.core.wording import plural
from controller.sources.jetstream_queues import check_queues, create_missing
from controller.sources.queue_plan import (
    ACK_WAIT_S,
    STREAM_BYTES,
    QueueCheck,
    QueueState,
    StreamSpec,
    size,
)

if TYPE_CHECKING:
    from nats.aio.client import Client

CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 5.0
"""How long each JetStream request waits for its answer from a server that took the
connection and then stalls (one that forbids the request is said at once)."""
EXIT_DIFFERS = 1
EXIT_USAGE = 2

DESCRIPTION = """\
Print the JetStream streams and durable pull consumers that FILE's pools read from, and
whether each exists as wanted, is missing, or differs. --apply creates what is missing and
nothing else: running it again changes nothing. What exists but differs is never changed:
each field that differs is printed as `field: existing -> wanted`, for you to fix or delete.
A stream bounded below --max-bytes is in place and keeps its own bound, which is printed
with the size asked that was not applied.

the subject convention: a pool's tasks are published on its queue.subject, or by default on
`<queue.stream, lowercased>.<pool name>` (stream AGENT_TASKS_ACME, pool acme-research:
agent_tasks_acme.acme-research). Each distinct queue.stream is one stream holding its pools'
subjects, with work-queue retention (a task is removed once acked), file storage, at most
--max-bytes with discard new (full, it refuses a new task and drops none), and max
consumers twice its pools, at least 1,000 (nats-server 2.15 lets a stream that does not set
it hold 1,000 consumers, whatever its account allows; a stream whose limit is below its
pools' consumers differs). Each pool reads through a durable pull consumer named
queue.consumer, filtered on the pool's subject: explicit ack, ack wait --ack-wait, max ack
pending = max_replicas x concurrency (the most tasks the pool's workers can hold at once),
max deliver unlimited (a task is redelivered until a worker acks it, never dropped).

A pool's consumer is not created on a stream that exists without the pool's subject: no
task would reach it; the report names the subject to add to the stream.

A consumer that delivers headers only, that the server deletes when idle (its own
inactive threshold, or its stream's consumer_limits), or that is paused (pause_until still
ahead) differs; so does a stream that allows rollup headers (a publisher could purge a
subject) or message TTLs (a task could expire unrun), transforms subjects, is sealed, keeps
a duplicate window over 2 minutes (a task published again with a Msg-Id is dropped), is a
mirror or has sources, or persists asynchronously, or holds tasks on subjects no consumer
reads (a pool renamed leaves its old tasks there, kept and never run: they are counted).

agentdash's lag for a pool is that consumer's pending + ack pending, as KEDA's
nats-jetstream scaler reads it.

--nats-config prints, without connecting, a nats-server configuration that isolates tenants
with NATS accounts: agentdash's account holds the streams and buckets; each tenant's workers
are in an account of their own that imports only their pools' next tasks and acks and their
own usage and busy subjects; each tenant's producers (user producer-<tenant>) may only
publish its pools' tasks, with at most --producer-connections connections together (see
docs/security.md).

exit status: 0 when nothing differs (without --apply, missing ones are only listed), 1 when
something differs or could not be created, or NATS cannot be reached; 2 for a bad FILE or flag.
"""


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "queues",
        help="print, or create with --apply, the JetStream stream and consumers a config needs",
        description=DESCRIPTION,
        formatter_class=FilledDescription,
    )
    parser.add_argument(
        "--config", type=flags.path, required=True, metavar="FILE", help="agentdash.yaml"
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--apply", action="store_true", help="create what is missing")
    action.add_argument(
        "--nats-config",
        action="store_true",
        help="print a nats-server configuration with an account per tenant, and exit",
    )
    parser.add_argument(
        "--nats-url",
        type=flags.nats_url,
        metavar="URL",
        help="NATS server (env AGENTDASH_NATS_URL, as the daemon's; default: nats.url)",
    )
    parser.add_argument(
        "--ack-wait",
        type=flags.number(1, DAY),  # no default: given with --nats-config, it is refused
        metavar="S",
        help="seconds a worker may hold a task unacked before it goes to another; longer "
        f"than a task takes, unless workers send in-progress acks (default {ACK_WAIT_S:g})",
    )
    parser.add_argument(
        "--max-bytes",
        type=flags.size(1024**2, 1024**5),
        default=STREAM_BYTES,
        metavar="SIZE",
        help="what each task stream may hold; full, it refuses new tasks and drops none "
        f"(default {size(STREAM_BYTES)})",
    )
    parser.add_argument(
        "--producer-connections",
        type=flags.whole(1, 65536),  # no default: given without --nats-config, it is refused
        metavar="N",
        help="--nats-config: connections each tenant's producers may open together, each "
        f"with 64 subscriptions (default {PRODUCER_CONNECTIONS})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    misplaced = _misplaced(args)
    if misplaced is not None:
        print(f"agentdash: queues {misplaced}", file=sys.stderr)
        return EXIT_USAGE
    config = load_config(args.config)
    if args.nats_config:
        connections = args.producer_connections
        try:
            text = render(
                config,
                args.config.name,
                stream_bytes=args.max_bytes,
                producer_connections=PRODUCER_CONNECTIONS if connections is None else connections,
            )
        except ValueError as exc:
            raise ConfigError(str(args.config), "tenants", str(exc)) from None
        warn_shared_streams(config)  # on stderr: the accounts' text on stdout stays whole
        print(text, end="")
        return 0
    check_files(config)  # credentials and CAs, before connecting
    warn_open_secret_files(config)
    warn_shared_streams(config)
    url = args.nats_url or config.nats.url
    log = logging.getLogger("agentdash")
    if not log.handlers:  # connect_nats warns at each retry: once, at the end, is enough here
        log.addHandler(logging.NullHandler())
    ack_wait = ACK_WAIT_S if args.ack_wait is None else args.ack_wait
    checks = asyncio.run(
        _check(config, url, apply=args.apply, ack_wait=ack_wait, max_bytes=args.max_bytes)
    )
    print(printable_lines(report(checks, apply=args.apply)))
    return EXIT_DIFFERS if any(c.state in ("differs", "failed") for c in checks) else 0


def _misplaced(args: argparse.Namespace) -> str | None:
    """A flag the chosen mode would ignore, said rather than dropped: --nats-config prints a
    configuration without connecting, and only it lets producers in."""
    if args.nats_config:
        given = {"--nats-url": args.nats_url, "--ack-wait": args.ack_wait}
        named = [name for name, value in given.items() if value is not None]
        if named:
            said = "--nats-config prints a configuration, connecting to no NATS"
            return f"{said}: {named[0]} would be ignored"
        return None
    if args.producer_connections is not None:
        return (
            "--producer-connections needs --nats-config: it bounds each tenant's producers' "
            "account there"
        )
    return None


async def _check(
    config: Config, url: str, *, apply: bool, ack_wait: float, max_bytes: int
) -> list[QueueCheck]:
    from agentdash.nats_client import connect_nats, forbidden_error, jetstream_error

    denied: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    def forbid(exc: Exception) -> None:
        if not denied.done():
            denied.set_result(exc)

    nc = await connect_nats(
        url, CONNECT_TIMEOUT_S, auth=config.nats, source=config.source, forbidden=forbid
    )
    wait = REQUEST_TIMEOUT_S
    work = asyncio.ensure_future(_asked(nc, config, apply, ack_wait, max_bytes, wait))
    try:
        # A forbidden request is never answered: said at once, not after its wait.
        either: set[asyncio.Future[Any]] = {work, denied}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            raise forbidden_error(url, denied.result())
        return work.result()
    except (nats.errors.Error, TimeoutError) as exc:
        raise jetstream_error(url, exc, waited=wait, said=nc.last_error) from None
    except (ValueError, KeyError, TypeError) as exc:  # an answer that is not JetStream's API
        raise StartError(f"JetStream at {url}: an answer agentdash cannot read: {exc}") from None
    finally:
        await cancel_until_done(work)
        # A server gone mid-run: nats.py writes what it held back at the close, and raises
        # the connection's reset there, past the one line already said.
        with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
            await nc.close()


async def _asked(
    nc: Client, config: Config, apply: bool, ack_wait: float, max_bytes: int, wait: float
) -> list[QueueCheck]:
    checks = await check_queues(nc, config, ack_wait=ack_wait, max_bytes=max_bytes, timeout=wait)
    return await create_missing(nc, checks, timeout=wait) if apply else checks


def report(checks: list[QueueCheck], *, apply: bool) -> str:
    """Each stream and consumer, what it is (or should be), and how it differs."""
    lines = []
    for check in checks:
        state = "differs, left as it is" if check.state == "differs" else check.state
        lines.append(f"{check.spec.label}: {state}")
        lines.append(f"    {check.spec.describe()}")
        lines.extend(f"    {detail}" for detail in check.details)
    streams = sum(isinstance(c.spec, StreamSpec) for c in checks)
    counts = Counter(c.state for c in checks)
    summary = ", ".join(f"{counts[s]:,} {s}" for s in get_args(QueueState) if counts[s])
    lines.append(
        f"{plural(streams, 'stream')}, {plural(len(checks) - streams, 'consumer')}: {summary}"
    )
    if counts["missing"] and not apply:
        lines.append("--apply creates what is missing")
    if counts["differs"]:
        lines.append(
            "agentdash changes nothing that exists: fix what differs (deleting a "
            "consumer keeps its tasks in the stream; deleting a stream loses them), "
            "then run this again"
        )
    return "\n".join(lines)


def printable_lines(text: str) -> str:
    """Each line as a terminal may show it: the server's refusals are outside text."""
    return "\n".join(loggable(line) for line in text.split("\n"))
