"""Errors the CLI turns into one line. Kept apart so that importing them costs nothing."""

from __future__ import annotations

INTERRUPTED = 130
"""The exit code after Ctrl-C: 128 + SIGINT, as a shell reports a command it stopped."""


class StartError(Exception):
    """Something outside agentdash is not there (NATS, the API server): one line, exit 1."""

    exit_code = 1


class UnusableInput(StartError):
    """A file or flag the user gave that cannot be used, found only as the fleet starts (a
    kubeconfig without the context asked for): one line, exit 2, as any bad input is."""

    exit_code = 2
