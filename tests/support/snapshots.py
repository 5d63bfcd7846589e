"""The type of the `make_app` fixture (tests/snapshots/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

from agentdash.tui.app import AgentDashApp

AppFactory = Callable[..., AgentDashApp]
