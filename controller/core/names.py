"""Names that become NATS subjects, JetStream names or Kubernetes objects, checked as such.

Each check returns the name or raises ValueError saying what was expected; the config models
use them as validators, the CLI for its flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
"""A pool's name, at most 63 characters (`pool`); also what the config's JSON schema says."""
NATS_NAME = re.compile(r"[A-Za-z0-9_-]+")
"""A tier's, tenant's or provider's name, at most 255 characters (`nats_name`)."""
_SUBJECT_TOKEN = re.compile(r"[^\s.*>\x00-\x1f\x7f-\x9f]+")
"""A subject's token: no wildcard, no space and no control character (a NUL, an escape
sequence's ESC or CSI), which a server would store and every log would carry."""


def _check(fits: Callable[[str], object], expected: str) -> Callable[[str], str]:
    """A validator: the name if it fits, else ValueError saying what was expected."""

    def check(name: str) -> str:
        if not fits(name):
            raise ValueError(expected)
        return name

    return check


def _dns_label(name: str) -> bool:
    return len(name) <= 63 and DNS_LABEL.fullmatch(name) is not None


pool = _check(
    _dns_label,  # it names subjects (`agentdash.*.<pool>`), KV keys and Kubernetes objects
    "expected a pool name of 1-63 lowercase letters a-z, digits and '-', starting and ending "
    "with a letter or digit (it is used in NATS subjects and Kubernetes)",
)
namespace = _check(
    _dns_label,
    "expected a Kubernetes namespace: 1-63 lowercase letters a-z, digits and '-', starting and "
    "ending with a letter or digit",
)
kubernetes_name = _check(  # a DNS-1123 subdomain, as a Deployment's or a pod's name must be
    # Kubernetes bounds the whole name only (IsDNS1123Subdomain), not a part between dots.
    lambda name: len(name) <= 253 and all(DNS_LABEL.fullmatch(part) for part in name.split(".")),
    "expected a Kubernetes name: at most 253 lowercase letters a-z, digits, '-' and '.', each "
    "part between dots starting and ending with a letter or digit",
)
nats_name = _check(  # tenants, tiers, providers, streams, consumers: one subject token
    lambda name: len(name) <= 255 and NATS_NAME.fullmatch(name),
    "expected a name of 1-255 letters A-Z or a-z, digits, '-' and '_' (no '.', '*', '>', spaces "
    "or other characters: it is used in NATS subjects)",
)
subject = _check(  # a literal subject, as tasks are published on
    lambda name: len(name) <= 255 and all(_SUBJECT_TOKEN.fullmatch(t) for t in name.split(".")),
    "expected a NATS subject: tokens separated by '.', none empty, with no '*', '>', spaces "
    "or control characters",
)


def reserved_subject(subject: str) -> str | None:
    """Why producers may not be given `subject` as a pool's task subject (None: they may).
    Producers are granted publish on it and workers pull from the stream capturing it: on
    NATS's system, JetStream and KV subjects (`$...`), on replies (`_INBOX...`) or on
    agentdash's own (`agentdash...`: usage reports, overrides' audit, events) they could forge
    what the controller trusts, or read what other tenants are sent."""
    first = subject.split(".", 1)[0]
    if first.startswith("$"):
        return "NATS's own subjects ($...)"
    if first.lower() == "_inbox":
        return "reply inboxes (_INBOX...)"
    if first.lower() == "agentdash":
        return "agentdash's own subjects (agentdash...)"
    return None


def reserved_stream(stream: str) -> str | None:
    """Why a pool's tasks may not be in `stream` (None: they may): workers are granted pulls
    from it, and JetStream keeps its KV buckets and object stores in `KV_` and `OBJ_` streams,
    agentdash its own (history, overrides, audit) in `AGENTDASH...` ones."""
    if stream.startswith(("KV_", "OBJ_")):
        return "JetStream's KV and object store streams (KV_..., OBJ_...)"
    if stream.lower().startswith("agentdash"):
        return "agentdash's own streams (AGENTDASH...)"
    return None


def nats_url(url: str) -> str:
    return _url(url, ("nats", "tls", "ws", "wss"), "nats://HOST:PORT")


def http_url(url: str) -> str:
    return _url(url, ("http", "https"), "http(s)://HOST[:PORT]")


def _url(url: str, schemes: tuple[str, ...], form: str) -> str:
    expected = f"expected a URL like {form} ({', '.join(schemes)})"
    if len(url) > 2000 or any(c.isspace() for c in url):
        raise ValueError(expected)
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port above 65535 or not a number
    except ValueError:
        raise ValueError(expected) from None
    # port 0 is no server's: a config naming it would pass, and the daemon reach nothing
    if parts.scheme not in schemes or not parts.hostname or port == 0:
        raise ValueError(expected)
    return url
