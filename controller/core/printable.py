"""Text from outside (NATS, Kubernetes, a file) as it may be shown: on a terminal, in a log.

A lease holder, an override's author, a reason, an error message or a ScaledObject's name is
written by whoever could write it, and a terminal acts on what it is sent: `\\x1b]0;...\\x07`
sets its title, `\\x1b[2J` clears it, a bidi override makes a line read backwards. `printable`
shows such characters as escapes instead. `redacted` hides the passwords of the URLs in a
text, so that `nats://user:PW@host` is never printed.
"""

from __future__ import annotations

import re
from typing import Any

_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
"""C0 controls (newline and tab too: a field is one line), DEL, C1 controls (\\x9b is a CSI
on its own), the line and paragraph separators (a line break to some viewers), and the bidi
marks, embeddings, overrides and isolates. The joiners (U+200C, U+200D) stay: scripts and
emoji need them."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s]*)@")
"""`scheme://userinfo@`: the userinfo ends at the last `@` before the host (a password
may hold an `@` of its own)."""
HIDDEN = "***"


def printable(text: str) -> str:
    """`text` with each control character, line separator, and bidi mark, override or
    isolate, written as an escape (`\\x1b`, `\\x9b`, `\\u202e`, `\\n`); other text, any
    script, as it is."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def redacted(text: str) -> str:
    """`text` with the password of each URL in it hidden: `nats://user:***@host`. A URL with
    a user but no password loses the user too (`nats://***@host`): NATS reads a lone one as
    a token."""
    return _USERINFO.sub(_hide, text)


def _hide(found: re.Match[str]) -> str:
    scheme, userinfo = found.group(1), found.group(2)
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{user}:{HIDDEN}@" if colon else f"{scheme}{HIDDEN}@"


def loggable(text: str) -> str:
    """Text from outside as a message or a log line carries it: printable, no password."""
    return printable(redacted(text))


def loggable_tree(value: Any) -> Any:
    """A JSON-like value (dicts, lists, tuples, strings, numbers) with every string in it,
    keys included, `loggable`: for whatever shows a whole answer (a log line, /healthz)."""
    if isinstance(value, str):
        return loggable(value)
    if isinstance(value, dict):
        return {loggable_tree(key): loggable_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [loggable_tree(item) for item in value]
    return value
