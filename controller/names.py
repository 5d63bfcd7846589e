"""Names that become NATS subjects, JetStream names or Kubernetes objects, checked as such.

Each check returns the name or raises ValueError saying what was expected; the config models
use them as validators, the CLI for its flags.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NATS_NAME = re.compile(r"[A-Za-z0-9_-]+")
_SUBJECT_TOKEN = re.compile(r"[^\s.*>]+")


def pool(name: str) -> str:
    """A pool names subjects (`agentdash.*.<pool>`), KV keys and Kubernetes objects: an
    RFC 1123 DNS label fits all of them."""
    if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        raise ValueError(
            "expected a pool name of 1-63 lowercase letters, digits and '-', starting and "
            "ending with a letter or digit (it is used in NATS subjects and Kubernetes)"
        )
    return name


def namespace(name: str) -> str:
    if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        raise ValueError(
            "expected a Kubernetes namespace: 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return name


def kubernetes_name(name: str) -> str:
    """An RFC 1123 DNS subdomain, as a Deployment's name must be."""
    if len(name) > 253 or not all(_DNS_LABEL.fullmatch(part) for part in name.split(".")):
        raise ValueError(
            "expected a Kubernetes name: at most 253 lowercase letters, digits, '-' and '.', "
            "each part between dots starting and ending with a letter or digit"
        )
    return name


def nats_name(name: str) -> str:
    """Tenants, tiers, providers, streams and consumers: one NATS subject token, no more."""
    if len(name) > 255 or not _NATS_NAME.fullmatch(name):
        raise ValueError(
            "expected a name of 1-255 letters, digits, '-' and '_' (no '.', '*', '>' or "
            "spaces: it is used in NATS subjects)"
        )
    return name


def subject(name: str) -> str:
    """A literal subject, as tasks are published on: no wildcards, no empty token."""
    if len(name) > 255 or not all(_SUBJECT_TOKEN.fullmatch(t) for t in name.split(".")):
        raise ValueError(
            "expected a NATS subject: tokens separated by '.', none empty, with no "
            "'*', '>' or spaces"
        )
    return name


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
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise ValueError(expected) from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(expected)
    return url
