"""Text from outside as it is shown: control characters and bidi overrides escaped, other
text as it is; the passwords of URLs hidden."""

from __future__ import annotations

import pytest

from controller.core.printable import loggable, loggable_tree, printable, redacted


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("evil\x1b]0;pwned\x07\x1b[2J", "evil\\x1b]0;pwned\\x07\\x1b[2J"),
        ("\x9b31m", "\\x9b31m"),  # a C1 CSI: one byte that starts a sequence
        ("a\x00b\x7f", "a\\x00b\\x7f"),
        ("one\ntwo\tthree\r", "one\\ntwo\\tthree\\r"),  # a field is one line
        ("txt\u202eexe.pdf \u2066x\u2069", "txt\\u202eexe.pdf \\u2066x\\u2069"),
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # a line break to some viewers
        ("x\u200ey\u200fz\u061c", "x\\u200ey\\u200fz\\u061c"),  # bidi marks reorder too
        ("👩\u200d💻 می\u200cخواهم", "👩\u200d💻 می\u200cخواهم"),  # joiners: scripts need them
        ("worker-acme 3 → 4, 日本語, émigré, \\x1b", "worker-acme 3 → 4, 日本語, émigré, \\x1b"),
        ("", ""),
    ],
)
def test_printable_escapes_what_a_terminal_acts_on(text: str, shown: str) -> None:
    assert printable(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("nats://agentdash:PW@host:4222", "nats://agentdash:***@host:4222"),
        ("nats://u:p@ss@host", "nats://u:***@host"),  # an `@` in the password
        ("nats://TOKEN@host", "nats://***@host"),  # NATS reads a lone user as a token
        (
            "at nats://a:b@h1, then tls://c:d@h2: refused",
            "at nats://a:***@h1, then tls://c:***@h2: refused",
        ),
        ("http://host/path@v1 and user@example.com", "http://host/path@v1 and user@example.com"),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
    ],
)
def test_redacted_hides_the_password_of_every_url(text: str, shown: str) -> None:
    assert redacted(text) == shown


def test_loggable_is_both() -> None:
    assert loggable("nats://u:\x1b[2J@h \x9b") == "nats://u:***@h \\x9b"


def test_every_string_of_an_answer_is_loggable_keys_included() -> None:
    answer = {
        "leader": "evil\x1b]0;pwned\x07",
        "problems": {"scale \x9bx": "cannot reach nats://u:pw@host"},
        "stale_pools": ["a\u202eb"],
        "ticks": 3,
    }
    assert loggable_tree(answer) == {
        "leader": "evil\\x1b]0;pwned\\x07",
        "problems": {"scale \\x9bx": "cannot reach nats://u:***@host"},
        "stale_pools": ["a\\u202eb"],
        "ticks": 3,
    }
