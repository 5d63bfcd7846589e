"""The words of the learned keep-alive's reasons (controller.core.time_rules): a level held,
pre-warmed or let go, with the gaps and the price that planned it."""

from __future__ import annotations

from controller.core.model import Reason, Utc
from controller.core.ski_rental import Plan
from controller.core.tail import TAIL_SHARE


def prewarm_reason(plan: Plan, since: float, target: int, replicas: int) -> Reason:
    gaps = (plan.shortest_s, plan.median_s, plan.gaps)
    head = () if plan.head is None else (plan.head,)  # what made a miss of the first level dear
    times = (Utc(since), Utc(since + (plan.prewarm_s or 0.0)), Utc(since + plan.hold_s))
    template = _PREWARM if plan.head is None else _PREWARM_HEAD
    args = (*gaps, *head, *times, target, replicas)
    template, args = _priced(plan, template, args)
    return Reason(rule="pre-warm", template=template, args=args)


def keep_reason(plan: Plan, replicas: int, since: float, target: int, kept: int) -> Reason:
    gaps = (plan.gaps, plan.median_s) if plan.learned else (plan.gaps,)
    head = () if plan.head is None else (plan.head,)
    if plan.learned:
        template = _KEEP_LEARNED if plan.head is None else _KEEP_LEARNED_HEAD
    else:
        template = _KEEP_DEFAULT if plan.head is None else _KEEP_DEFAULT_HEAD
    end = Utc(since + plan.hold_s)
    args = (replicas, Utc(since), *gaps, *head, plan.hold_s, end, target, kept)
    template, args = _priced(plan, template, args)
    return Reason(rule="keep-alive", template=template, args=args)


def release_reason(plan: Plan, since: float, current: int, target: int) -> Reason:
    gaps = (plan.gaps, plan.median_s) if plan.learned else (plan.gaps,)
    template = _RELEASE_LEARNED if plan.learned else _RELEASE_DEFAULT
    args = (Utc(since), *gaps, plan.hold_s, Utc(since + plan.hold_s), current, target)
    template, args = _priced(plan, template, args)
    return Reason(rule="keep-alive", template=template, args=args)


def _priced(plan: Plan, template: str, args: tuple[object, ...]) -> tuple[str, tuple[object, ...]]:
    """The reason, with what priced a miss when the pool's measured pace did, the weight of
    waiting when the pool's config sets one, and the tail when it held the level longer."""
    if plan.taken is not None:
        template, args = template + _PRICED, (*args, plan.taken, plan.miss_s)
    if plan.weight != 1.0:
        template, args = template + _WEIGHED, (*args, plan.weight)
    if plan.tail is not None:
        template, args = template + _TAILED, (*args, plan.tail, TAIL_SHARE)
    return template, args


_KEEP_LEARNED = (
    "{} replicas not needed since {}; their last {} gaps (median {:.0f} s) say hold {:.0f} s, "
    "to {}: {} -> {}"
)
_KEEP_DEFAULT = (
    "{} replicas not needed since {}; {} gaps known, no pattern yet: hold {:.0f} s, to {}: {} -> {}"
)
_KEEP_LEARNED_HEAD = (
    "{} replicas not needed since {}; their last {} gaps (median {:.0f} s), and wakes from zero "
    "asked for {:.1f} replicas within a cold start, say hold {:.0f} s, to {}: {} -> {}"
)
_KEEP_DEFAULT_HEAD = (
    "{} replicas not needed since {}; {} gaps known, no pattern yet; wakes from zero asked for "
    "{:.1f} replicas within a cold start: hold {:.0f} s, to {}: {} -> {}"
)
_RELEASE_LEARNED = (
    "not needed since {}; the last {} gaps (median {:.0f} s) said hold {:.0f} s, to {}: "
    "let go, {} -> {}"
)
_RELEASE_DEFAULT = (
    "not needed since {}; {} gaps known, no pattern yet: held {:.0f} s, to {}: let go, {} -> {}"
)
_PREWARM_HEAD = (
    "bursts recur (gaps from {:.0f} s, median {:.0f} s, {} seen), and wakes from zero asked "
    "for {:.1f} replicas within a cold start: not needed since {}, pre-warmed from {} to {}: "
    "{} -> {}"
)
_PREWARM = (
    "bursts recur (gaps from {:.0f} s, median {:.0f} s, {} seen): not needed since {}, pre-warmed "
    "from {} to {}: {} -> {}"
)
_PRICED = " ({:.1f} tasks a pod takes in a cold start price a miss at {:.0f} pod-seconds)"
_WEIGHED = " (a second of waiting weighs {:g} s of an idle pod: keep_alive.wait_weight)"
_TAILED = (
    " (held for the tail: the cheapest hold would leave {:.1%} of its tasks to a cold start, "
    "more than the {:.0%} a p95 leaves out)"
)
