"""Errors the CLI turns into one line. Kept apart so that importing them costs nothing."""

from __future__ import annotations


class StartError(Exception):
    """Something outside agentdash is not there (NATS, the API server): one line, exit 1."""
