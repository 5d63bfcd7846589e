"""Fixtures of the product's tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Logging as it was before the test (`set_log_level` sets the root logger's handlers)."""
    root, ours = logging.getLogger(), logging.getLogger("agentdash")
    handlers, level, our_level = list(root.handlers), root.level, ours.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    ours.setLevel(our_level)
