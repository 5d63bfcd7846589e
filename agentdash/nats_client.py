"""The NATS connection every agentdash process makes: credentials and TLS from the config's
`nats:` section, one line for a refusal or an unreachable server, and, once connected, a client
that reconnects for ever.

While NATS is away the client retries twice a second; each problem is logged at most once
every LOG_EVERY_S, with how often it recurred meanwhile, and a line says when NATS is back
(as often at most).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import nats.errors
import nats.js.errors
from nats.aio.client import Client

from agentdash.cancelling import cancel_until_done
from agentdash.errors import StartError
from agentdash.nats_identity import identity_problems
from agentdash.socket_errors import is_refused, os_reason
from controller.core.config import ConfigError
from controller.core.connections import NatsConfig, NatsTLS
from controller.core.printable import printable, redacted

log = logging.getLogger("agentdash.nats")

LOG_EVERY_S = 10.0
"""A problem that recurs (the server refuses each reconnection) is said at most this often."""
RECONNECT_WAIT_S = 0.5


class Repeats:
    """Says each problem at most once every `every` seconds, and how often it recurred; and
    that the connection is back, as often. A connection the server cuts again and again (a
    slow consumer of someone's flood) is not a line a cut: what floods it is not trusted."""

    def __init__(
        self,
        every: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        name: str = "NATS",
    ) -> None:
        self._every = every
        self.name = name
        """What each line starts with: which connection it is about."""
        self._clock = clock
        self._said: dict[str, tuple[float, int]] = {}
        """Problem -> when it was last said, and how often it recurred since."""

    def warn(self, problem: str) -> None:
        self._say(logging.WARNING, problem)

    def back(self) -> None:
        """Connected again. Not a reason to say the next problem at once: a flood that gets
        the connection cut gets it cut again as soon as it is back."""
        self._say(logging.INFO, "connected again")

    def _say(self, level: int, what: str) -> None:
        now = self._clock()
        said = self._said.get(what)
        if said is not None and now - said[0] < self._every:
            self._said[what] = (said[0], said[1] + 1)
            return
        again = ""
        if said is not None and said[1]:
            times = "once" if said[1] == 1 else f"{said[1]} times"
            again = f" (and {times} more in the last {now - said[0]:.0f} s)"
        self._said[what] = (now, 0)
        log.log(level, "%s: %s%s", self.name, what, again)


class FirstAttempts:
    """What the first connection's attempts met. nats.py retries that connection
    (max_reconnect_attempts -1) until cancelled, and says why each attempt failed only to
    error_cb: kept here, the one line gives the last attempt's reason rather than the
    deadline's 'TimeoutError', and a refused connection (nothing listens there: the port or
    the host is wrong, or NATS is down) ends the wait at once instead of at the deadline."""

    def __init__(self) -> None:
        self.last: BaseException | None = None
        self.connection_refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def saw(self, exc: BaseException) -> None:
        self.last = exc
        if is_refused(exc) and not self.connection_refused.done():
            self.connection_refused.set_result(None)

    def reason(self, waited: float) -> str:
        """Why NATS was not reached within `waited` seconds."""
        return unreached_reason(self.last, waited)


def unreached_reason(exc: BaseException | None, waited: float) -> str:
    """Words for why a connection failed: `Connection refused`, `the host does not resolve
    (...)`; a deadline (the whole wait's, or one attempt's) is `no answer within N s`."""
    if exc is None or isinstance(exc, TimeoutError | nats.errors.TimeoutError):
        return f"no answer within {waited:g} s"
    if isinstance(exc, OSError):
        return os_reason(exc)
    return f"{type(exc).__name__} {exc}".strip()


class QuietUpgradedTLS(logging.Filter):
    """Drops asyncio's warning at each close of a TLS connection to NATS. nats.py reads a
    plain connection and upgrades it to TLS after the server's INFO, so its stream protocol
    still asks to stay half open at the server's close_notify, which TLS cannot: asyncio says
    so on stderr after every `agentdash queues` over TLS. Nothing is lost by it."""

    SAID = "returning true from eof_received() has no effect when using ssl"

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.SAID


QUIET_UPGRADED_TLS = QuietUpgradedTLS()


class HeaderlessClient(Client):
    """A client that tells the server it takes no headers, so the server delivers messages
    without them: for what anyone may flood and whose headers are never read (reports, the
    tasks watched arriving). Headers would be parsed and kept with each message waiting,
    outside the bytes a subscription counts: 60 kB of them on each report of a flood grow
    the daemon by 175 MB before its tenant is seen flooding, next to its 256 Mi memory
    limit; a megabyte of short lines on each task takes the loop 0.1 s a task to parse.
    nats.py has no option for it, hence the override of how it says CONNECT
    (tests/attacks/test_report_floods.py and test_task_headers.py fail if an upgrade
    changes that)."""

    def _connect_command(self) -> bytes:
        info = self._server_info
        self._server_info = {key: value for key, value in info.items() if key != "headers"}
        try:
            return super()._connect_command()
        finally:
            self._server_info = info


async def connect_nats(
    url: str,
    timeout: float,
    auth: NatsConfig | None = None,
    source: str = "<config>",
    *,
    reconnected: list[Callable[[], None]] | None = None,
    name: str = "NATS",
    dropped: Callable[[str], None] | None = None,
    headers: bool = True,
    forbidden: Callable[[Exception], None] | None = None,
) -> Client:
    """A client that reconnects for ever once connected. Unreachable: StartError (exit 1)
    with the last attempt's reason, at the first refused connection or after `timeout`.
    Refused (credentials, certificates): ConfigError naming the config field (exit 2), at
    once rather than after `timeout` of retries that cannot succeed. `reconnected`: called
    each time the client is connected again (what is in the list then). `name` starts its
    log lines: a process with two connections says which one a problem is on. `dropped`:
    told, instead of the log, of each message a subscription had no room for (a flood).
    `headers` False: the server strips the headers of what it delivers (HeaderlessClient).
    `forbidden`: told, instead of the log, of what the server forbids the user (its request
    then waits for an answer that never comes)."""
    logging.getLogger("asyncio").addFilter(QUIET_UPGRADED_TLS)  # once: a second is not added
    refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    first = FirstAttempts()
    repeats = Repeats(name=name)

    async def failed(exc: Exception) -> None:
        if _told_elsewhere(exc, name, dropped, forbidden):
            return
        if not refused.done() and not nc.is_connected and _is_refusal(exc):
            refused.set_result(exc)
        if not connecting.done():
            # The first connection's problems end in its one error line, which names the last
            # of them: logged as well, they were that line twice. A reconnection's problems
            # are for the log alone.
            first.saw(exc)
            return
        repeats.warn(str(exc))

    async def back() -> None:
        repeats.back()
        for call in reconnected or ():
            call()

    nc = Client() if headers else HeaderlessClient()
    settings: dict[str, Any] = {
        "connect_timeout": min(timeout, 2.0),
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": RECONNECT_WAIT_S,
        "error_cb": failed,
        "reconnected_cb": back,
        "allow_reconnect": True,
        **_credentials(auth or NatsConfig(), source),
    }
    connecting: asyncio.Future[Any] = asyncio.ensure_future(nc.connect(url, **settings))
    await _first_connection(
        nc, connecting, refused, first, url=url, timeout=timeout, auth=auth, source=source
    )
    return nc


def _told_elsewhere(
    exc: Exception,
    name: str,
    dropped: Callable[[str], None] | None,
    forbidden: Callable[[Exception], None] | None,
) -> bool:
    """A message dropped for want of room, or a request forbidden, told to whoever asked to
    hear of it rather than logged."""
    if isinstance(exc, nats.errors.SlowConsumerError) and dropped is not None:
        dropped(f"{name}: {printable(exc.subject)}")
        return True
    if forbidden is not None and PERMISSIONS_VIOLATION in str(exc).lower():
        forbidden(exc)
        return True
    return False


async def _first_connection(
    nc: Client,
    connecting: asyncio.Future[Any],
    refused: asyncio.Future[Any],
    first: FirstAttempts,
    *,
    url: str,
    timeout: float,
    auth: NatsConfig | None,
    source: str,
) -> None:
    """Wait for `connecting` to end, a refusal of who we are, a refused connection or
    `timeout`, whichever is first; raise the one line for all but the first. A connection
    that did not succeed is stopped, and its client closed."""
    try:
        done, _ = await asyncio.wait(
            {connecting, refused, first.connection_refused},
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if connecting in done:
            connecting.result()
            return
        if refused in done:
            where, path, expected = _identity(auth or NatsConfig(), refused.result(), url, source)
            reason = str(refused.result()).removeprefix("nats: ").strip("'")
            raise ConfigError(
                where, path, f"expected {expected} NATS at {redacted(url)} accepts: {reason}"
            )
        raise StartError(f"cannot reach NATS at {redacted(url)}: {first.reason(timeout)}")
    except (nats.errors.Error, OSError, TimeoutError) as exc:  # not retried by nats.py
        reason = unreached_reason(exc, timeout)
        raise StartError(f"cannot reach NATS at {redacted(url)}: {reason}") from None
    finally:
        if not connecting.done() or connecting.cancelled() or connecting.exception() is not None:
            # Again until it ends: nats.py may drop one cancel and retry for ever.
            await cancel_until_done(connecting)
            with contextlib.suppress(BaseException):
                await nc.close()


def jetstream_error(
    url: str,
    exc: nats.errors.Error | TimeoutError,
    *,
    waited: float | None = None,
    said: BaseException | None = None,
) -> StartError:
    """The one line for a JetStream request that failed at `url` (exit 1): a server without
    JetStream, an account without it, a user it forbids the request, or what it said. `said`:
    what the server last told the connection (its `last_error`): nats.py tells a permission
    refused only there, and the request waits for an answer that never comes. `waited`: how
    long a request unanswered waited."""
    where = redacted(url)
    if said is not None and PERMISSIONS_VIOLATION in str(said).lower():
        return forbidden_error(url, said)
    if isinstance(exc, nats.errors.NoRespondersError) or (
        isinstance(exc, nats.js.errors.ServiceUnavailableError) and not exc.description
    ):
        return StartError(f"NATS at {where} has no JetStream (start nats-server with -js)")
    if isinstance(exc, nats.js.errors.APIError) and exc.description:
        return StartError(f"JetStream at {where}: {exc.description}")
    if isinstance(exc, TimeoutError):  # nats.py's own is one too
        within = f" within {waited:g} s" if waited is not None else ""
        return StartError(f"JetStream at {where}: no answer{within}")
    return StartError(f"JetStream at {where}: {type(exc).__name__} {exc}".strip())


def forbidden_error(url: str, said: BaseException) -> StartError:
    """The one line for a request the server forbids the user (exit 1), in the words nats.py
    hands on, lower-cased."""
    reason = str(said).removeprefix("nats: ").strip("'")
    return StartError(
        f"JetStream at {redacted(url)}: the server forbids this user: {reason} (agentdash's "
        "user must be allowed JetStream's API, $JS.API.>; a tenant's worker or a producer is not)"
    )


PERMISSIONS_VIOLATION = "permissions violation"
"""What nats-server's error says when a user may not publish or subscribe where it tried."""


def _is_refusal(exc: Exception) -> bool:
    """The server said no to who we are, or the certificates do not match: retrying is
    pointless, unlike a server that is not (yet) there."""
    text = str(exc).lower()
    return (
        isinstance(exc, nats.errors.AuthorizationError | ssl.SSLError)
        or "authorization" in text
        or "authentication" in text
    )


def _identity(auth: NatsConfig, exc: Exception, url: str, source: str) -> tuple[str, str, str]:
    """Where to fix it (the file, or the flag), the field, and what it should hold. With no
    credentials in the config, those refused are the URL's own (`nats://user:pw@host`)."""
    if isinstance(exc, ssl.SSLError):
        return source, "nats.tls", "certificates that"
    for path, given in (
        ("nats.creds_file", auth.creds_file),
        ("nats.nkey_seed_file", auth.nkey_seed_file),
        ("nats.user", auth.user),
        ("nats.token", auth.token),
    ):
        if given is not None:
            return source, path, "credentials that"
    if urlsplit(url).username is not None:
        said = "a user and password (or a token) that"
        if url == auth.url:
            return source, "nats.url", said
        # the daemon's and queues' URL may come from the environment, given no flag
        from_environment = os.environ.get("AGENTDASH_NATS_URL") == url
        flag = "--nats-url (or AGENTDASH_NATS_URL)" if from_environment else "--nats-url"
        return flag, "", said
    return (
        source,
        "nats",
        "credentials (creds_file, nkey_seed_file, user and password, or token) that",
    )


def _credentials(auth: NatsConfig, source: str) -> dict[str, Any]:
    """nats.connect's keyword arguments for the config's `nats:` identity and TLS."""
    options: dict[str, Any] = {}
    # nats-py signs with the nkeys package, and imports it only when it has to
    if (auth.creds_file or auth.nkey_seed_file) and importlib.util.find_spec("nkeys") is None:
        path = "nats.creds_file" if auth.creds_file else "nats.nkey_seed_file"
        raise ConfigError(source, path, "needs the nkeys package: pip install 'nats-py[nkeys]'")
    for path, why in identity_problems(auth).items():
        raise ConfigError(source, path, why)
    if auth.creds_file:
        options["user_credentials"] = auth.creds_file
    if auth.nkey_seed_file:
        options["nkeys_seed"] = auth.nkey_seed_file
    if auth.user is not None and auth.password is not None:
        options["user"] = auth.user
        options["password"] = auth.password.get_secret_value()
    if auth.token is not None:
        options["token"] = auth.token.get_secret_value()
    if auth.tls is not None:
        options["tls"] = _tls_context(auth.tls, source)
    return options


def _tls_context(tls: NatsTLS, source: str) -> ssl.SSLContext:
    path, file = "nats.tls.ca_file", tls.ca_file
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file is not None:
            path, file = "nats.tls.cert_file", tls.cert_file
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ConfigError(source, path, f"expected PEM in {file}: {reason}") from None
    return context
