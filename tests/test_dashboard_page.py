"""docs/dashboard.md's run of the demo, as the demo runs today: each reason worded as the
engine words it, and each pool woken from zero as the example's hard caps allow."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support.pages import blocks, section

ROOT = Path(__file__).resolve().parent.parent


SCALE_LINE = re.compile(r"\d\d:\d\d:\d\d  \S+ +\d+ -> \d+ +(?P<rule>[a-z_ ]+): (?P<detail>.+)")
"""A scale event as `agentdash demo --headless` prints it: time, pool, change, `rule: why`."""
PLACEHOLDER = re.compile(r"\\\{[^{}]*\\\}")


def reason_wordings() -> list[re.Pattern[str]]:
    """Every wording the engine gives a reason in: controller/core's strings with a `{}` and
    at least two words of their own, each as a pattern that its values fill."""
    wordings = []
    for path in sorted((ROOT / "controller" / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if "{" not in node.value or len(re.findall(r"[a-z]{2,}", node.value)) < 2:
                continue
            wordings.append(re.compile(PLACEHOLDER.sub("(.*?)", re.escape(node.value))))
    return wordings


def test_the_demo_run_shown_gives_reasons_as_the_engine_words_them() -> None:
    """docs/dashboard.md's run of the demo: each scale event's reason is one the engine can
    print today, word for word."""
    text = section(ROOT / "docs" / "dashboard.md", "## The demo: `agentdash demo`")
    shown = [m for body in blocks(text, "") for m in map(SCALE_LINE.fullmatch, body.split("\n"))]
    events = [m for m in shown if m is not None]
    assert events, "docs/dashboard.md: no scale event in the demo's run"
    wordings = reason_wordings()
    for event in events:
        assert any(w.fullmatch(event["detail"]) for w in wordings), (
            f"docs/dashboard.md: no reason of the engine reads {event['rule']}: {event['detail']}"
        )


def test_the_demo_run_shown_wakes_each_pool_to_one_replica_first() -> None:
    """Every tenant of the demo's fleet has a hard cap, and no task has reported its tokens
    when the demo starts: a pool grows past one replica only once one of its tasks has
    (docs/policy.md), so a pool's first change, from 0, is to 1."""
    from controller.core.config import load_config

    assert all(t.hard_cap for t in load_config(ROOT / "examples/agentdash.yaml").tenants.values())
    text = section(ROOT / "docs" / "dashboard.md", "## The demo: `agentdash demo`")
    changes = re.findall(r"(?m)^\d\d:\d\d:\d\d  (\S+) +(\d+) -> (\d+) ", text)
    first: dict[str, tuple[str, str]] = {}
    for pool, before, after in changes:
        first.setdefault(pool, (before, after))
    woken = {pool: change for pool, change in first.items() if change[0] == "0"}
    assert woken, "docs/dashboard.md: no pool woken from zero in the demo's run"
    assert {pool: ("0", "1") for pool in woken} == woken, "docs/dashboard.md: the demo's run"


def test_the_tokens_the_demo_says_were_spent_earlier_today_are_the_demo_s() -> None:
    """The demo starts with tokens spent by some tenants (tokens today 3.36M in the header a
    few seconds in): the page says which, and how many, as the demo has them."""
    from agentdash.demo.fleet import EARLIER_TODAY

    text = section(ROOT / "docs" / "dashboard.md", "## The demo: `agentdash demo`")
    said = dict(re.findall(r"(\w+)\s+([\d,]+) of its [\d,]+(?: tokens)?", " ".join(text.split())))
    assert {
        tenant: int(tokens.replace(",", "")) for tenant, tokens in said.items()
    } == EARLIER_TODAY
