"""What `agentdash tune` prints about a search (agentdash.tune runs it): the heading, the
Pareto front, the chosen settings and the held-out check, as lines of text."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from agentdash.standard_input import named
from controller.core.printable import printable
from controller.core.wording import plural, rounded_span

if TYPE_CHECKING:
    from controller.simulate.tradeoff import Objective, Outcome, Trial
    from controller.simulate.tune import Search, Split

MAX_TIME_BUDGET_S = 7 * 86_400.0
"""The longest --time-budget: a search said to need more is said to need none (0)."""
FRONT_ROWS = 12
"""A longer Pareto front is shown as this many of its points, evenly spread."""


def heading(
    args: argparse.Namespace, by: str, found: Search, parts: Split, tasks: int, workers: int
) -> str:
    from controller.simulate.tune import BATCH

    groups = len(found.groups)
    early = _ran_out(found, args.trials) if found.stopped_early else ""
    end = parts.at + parts.tail.duration
    share = (parts.at - parts.start) / (end - parts.start) if end > parts.start else 1.0
    processes = min(workers, BATCH)
    searched = (
        f"the first {_share(share)} of the trace's time" if len(parts.tail) else "the whole trace"
    )
    return (
        f"{printable(str(args.config))}: {plural(tasks, 'task')} in "
        f"{printable(named(args.trace))}, by {by} "
        f"({plural(groups, 'group')}), objective {found.objective}\n"
        f"search: {searched} ({plural(len(parts.head), 'task')}, "
        f"{rounded_span(parts.start)} to {rounded_span(parts.at)}), "
        f"{plural(len(found.trials), 'candidate')} in {found.seconds:.0f} s on "
        f"{processes} {'process' if processes == 1 else 'processes'}{early}"
    )


def _ran_out(found: Search, asked: int) -> str:
    """The budget stopped the search: how far it got, and what budget would have let it run
    every trial asked for. On a trace of weeks the default budget runs a single batch of 8,
    random draws all, and "nothing to change" after them says little of the defaults."""
    from controller.simulate.tune import BATCH

    batch_s = found.seconds / max(1, -(-len(found.trials) // BATCH))
    enough = -(-asked // BATCH) * batch_s
    budget = f"{enough:.0f}" if enough <= MAX_TIME_BUDGET_S else "0 (no limit)"
    return (
        f" (the time budget ran out, {len(found.trials):,} of the {asked:,} asked for: "
        f"--time-budget {budget} would have run them all)"
    )


def pareto_front(found: Search) -> list[str]:
    from controller.simulate.tradeoff import NEAR

    reference, chosen, front = found.current.outcome, found.chosen, found.front
    shown = {t.number: t for t in [*_thin(front), chosen, found.current]}
    on_front = {t.number for t in front}
    held = f"{'held p95 (s)':>14}" if reference.held else ""
    lines = [
        f"Pareto front: {len(front)} of the {len(found.trials)} candidates tried, "
        "p95 wait against pod-seconds (with the current config and the pick where they are "
        "not on it)",
        f"  {'#':>5}{'p95 wait (s)':>14}{'p99 wait (s)':>14}{'pod-seconds':>14}{'vs current':>20}"
        f"{'scale events':>14}{held}",
    ]
    if reference.held:
        lines[1:1] = _held_back(reference.held, reference.held_p95)
    for trial in sorted(shown.values(), key=lambda t: (t.outcome.pod_seconds, t.number)):
        o = trial.outcome
        notes = []
        if trial.number == 0:
            notes.append("the current config")
        if trial.number == chosen.number:
            notes.append(f"chosen ({found.objective})")
        if trial.number not in on_front:
            notes.append("dominated" if trial.number == 0 else f"within {NEAR:.0%}, fewer changes")
        versus = _versus(o, reference) if trial.number else ""
        mark = "*" if trial.number == chosen.number else " "
        held_p95 = f"{o.held_p95:>14,.1f}" if reference.held else ""
        lines.append(
            f"{mark} {trial.number:>5}{o.p95:>14,.1f}{o.p99:>14,.1f}{o.pod_seconds:>14,.0f}"
            f"{versus:>20}"
            f"{o.scale_events:>14,}{held_p95}  {', '.join(notes)}".rstrip()
        )
    if len(shown) < len(front):
        more = len(front) - len(shown)
        lines.append(
            f"  (and {more} more {'point' if more == 1 else 'points'} of the front between these)"
        )
    return lines


def nothing_to_change(found: Search) -> str:
    """The current config stays: what was tried, that nothing changes, and how the best
    candidate the objective may pick scored against the current config. The 1% is of the
    objective's own measure, which for `both` and `balanced` is the balanced score, not a
    column of the front (a candidate 1.2% cheaper at the same p95 is 0.6% better there)."""
    from controller.simulate.tradeoff import NEAR

    objective, reference = found.objective, found.current.outcome
    others = found.trials[1:]
    if not others:
        return f"The current config stays (objective {objective}): no other candidate was tried."
    lines = [
        f"The current config stays (objective {objective}): "
        f"{plural(len(others), 'other candidate')} {'was' if len(others) == 1 else 'were'} "
        f"tried, and none that may be picked is better by more than {NEAR:.0%} in "
        f"{_MEASURE[objective.kind]}."
    ]
    admitted = [t for t in others if objective.admits(t.outcome, reference)]
    if admitted:
        best = min(admitted, key=lambda t: objective.key(t.outcome, reference))
        allowed = f" ({_ALLOWED[objective.kind]})" if objective.kind != "balanced" else ""
        lines.append(
            f"The best that may be picked, candidate #{best.number}{allowed}: "
            f"{_scored(objective, best.outcome, reference)}{_LOWER.get(objective.kind, '')}."
        )
    else:
        each = "it has" if len(others) == 1 else "each has"
        lines.append(f"None may be picked: {each} {_barred(objective, found)}.")
    return "\n".join([*lines, *_guarded(found)])


_MEASURE = {
    "both": "the balanced score",
    "balanced": "the balanced score",
    "p95": "p95 wait",
    "cost": "pod-seconds",
}
_ALLOWED = {
    "both": "no higher p95 or p99, no more pod-seconds",
    "p95": "no more pod-seconds, no higher p99",
    "cost": "no higher p95 or p99",
}
"""What a candidate the objective may pick keeps to, beside the held-back tasks' p95."""
_LOWER = {"both": " (lower is better)", "balanced": " (lower is better)"}


def _barred(objective: Objective, found: Search) -> str:
    """What keeps every other candidate from being picked, in words, as many as apply."""
    reference = found.current.outcome
    bounds = {
        "both": "a higher p95 or more pod-seconds",
        "p95": "more pod-seconds",
        "cost": "a higher p95",
    }
    said: list[str] = []
    for trial in found.trials[1:]:
        guard = objective.guard(trial.outcome, reference)
        reasons = [
            "" if objective.fits(trial.outcome, reference) else bounds[objective.kind],
            "a higher p99" if guard and "held-back" not in guard else "",
            "a higher p95 for the held-back tasks" if "held-back" in guard else "",
        ]
        said += [r for r in reasons if r and r not in said]
    return said[0] if len(said) == 1 else f"{', '.join(said[:-1])}, or {said[-1]}"


def _scored(objective: Objective, outcome: Outcome, reference: Outcome) -> str:
    """`outcome` in the objective's own measure, against the current config's."""
    if objective.kind == "p95":
        return f"p95 {outcome.p95:,.1f} s against the current config's {reference.p95:,.1f} s"
    if objective.kind == "cost":
        return (
            f"{outcome.pod_seconds:,.0f} pod-seconds against the current config's "
            f"{reference.pod_seconds:,.0f}"
        )
    return (
        f"balanced score {objective.score(outcome, reference):.3f} against the current config's 1"
    )


def _guarded(found: Search) -> list[str]:
    """The candidate a guard kept out that the objective would pick otherwise: the front
    shows it beating the current config (the same p95, 10% cheaper), and without a word the
    lines above read as if none had."""
    from controller.simulate.tradeoff import NEAR

    objective, reference = found.objective, found.current.outcome
    admitted = [t for t in found.trials if objective.admits(t.outcome, reference)]
    best = min(objective.measure(t.outcome, reference) for t in admitted)
    kept_out = [
        t
        for t in found.trials
        if objective.guard(t.outcome, reference)
        and objective.fits(t.outcome, reference)
        and objective.measure(t.outcome, reference) < best * (1 - NEAR)
    ]
    if not kept_out:
        return []
    trial = min(kept_out, key=lambda t: objective.measure(t.outcome, reference))
    return [
        f"Candidate #{trial.number} does better, {_scored(objective, trial.outcome, reference)},"
        f" but it {objective.guard(trial.outcome, reference)}, and no pick may."
    ]


def _held_back(held: int, held_p95: float) -> list[str]:
    """Why the current config's p95 here is lower than simulate's on the same trace."""
    return [
        f"  its p95 leaves out the {plural(held, 'task')} a budget or pause held back under the "
        "current config",
        f"  (their p95: {held_p95:,.1f} s, the held p95 column, which no pick may raise);",
        "  agentdash simulate's p95 counts them",
    ]


def _thin(front: list[Trial], rows: int = FRONT_ROWS) -> list[Trial]:
    """At most `rows` points, evenly spread along the front, both ends included."""
    if len(front) <= rows:
        return front
    step = (len(front) - 1) / (rows - 1)
    return [front[round(i * step)] for i in range(rows)]


def _versus(outcome: Outcome, reference: Outcome) -> str:
    wait = outcome.p95 - reference.p95
    cost = outcome.pod_seconds / reference.pod_seconds - 1 if reference.pod_seconds else 0.0
    return f"{wait:+.1f} s {cost:+7.1%}"


def chosen_settings(found: Search) -> list[str]:
    chosen = found.chosen
    score = found.objective.score(chosen.outcome, found.current.outcome)
    lines = [f"chosen: #{chosen.number}, balanced score {score:.2f} (the current config: 1)"]
    width = max(len(g.name) for g in found.groups)
    for group, setting in zip(found.groups, chosen.candidate, strict=True):
        what = "as configured" if setting is None else setting.describe()
        lines.append(f"  {group.name:<{width}}  {what}")
    if found.stopped_early and not found.undoings and chosen.candidate != found.current.candidate:
        lines += _unchecked(found)
    return lines


def _unchecked(found: Search) -> list[str]:
    """The pick's changes were never undone one by one: say so, and what budget would have."""
    from controller.simulate.tune import BATCH, PRUNE_BATCHES

    batch_s = found.seconds / max(1, -(-len(found.trials) // BATCH))
    enough = found.seconds + PRUNE_BATCHES * batch_s
    return [
        "  the time budget ran out before these changes could be undone one by one, so some",
        f"  may not earn their place: a batch of {BATCH} took {batch_s:.0f} s here, and "
        f"--time-budget {enough:.0f} would have checked them",
    ]


def holdout_check(
    objective: Objective, parts: Split, end: float, current: Outcome, picked: Outcome
) -> list[str]:
    rows: list[tuple[str, float, float]] = [
        ("p95 wait (s)", current.p95, picked.p95),
        ("p99 wait (s)", current.p99, picked.p99),
        ("pod-seconds", current.pod_seconds, picked.pod_seconds),
        *[
            (f"  {tier} p95 (s)", current.tier_p95[tier], picked.tier_p95.get(tier, 0.0))
            for tier in current.tier_p95
        ],
        ("not done at the end", current.pending, picked.pending),
        ("scale events", current.scale_events, picked.scale_events),
    ]
    if current.held or picked.held:  # left out of the p95 above; a pick may not raise theirs
        rows[1:1] = [("held back: p95 (s)", current.held_p95, picked.held_p95)]
    share = 1 - (parts.at - parts.start) / (end - parts.start) if end > parts.start else 0.0
    lines = [
        f"held-out check: the last {_share(share)} of the trace's time "
        f"({plural(len(parts.tail), 'task')}, "
        f"{rounded_span(parts.at)} to {rounded_span(end)}), never seen by the search, replayed "
        "from an idle fleet",
        f"  {'':<24}{'current':>13}{'chosen':>13}",
        *[f"  {label:<24}{_cell(a)}{_cell(b)}" for label, a, b in rows],
    ]
    lines.append(_verdict(objective, current, picked))
    return lines


def does_worse(objective: Objective, current: Outcome, picked: Outcome) -> bool:
    """The pick fails the objective on the held-out tail, or measures worse there than the
    current config: a regression to keep out of the user's file."""
    chosen, now = objective.measure(picked, current), objective.measure(current, current)
    return not objective.admits(picked, current) or chosen > now


def _verdict(objective: Objective, current: Outcome, picked: Outcome) -> str:
    """Beats only where the objective's own measure is strictly better (an equal p95 with
    fewer pod-seconds was said to beat the current one on p95)."""
    chosen, now = objective.measure(picked, current), objective.measure(current, current)
    if does_worse(objective, current, picked):
        return (
            f"The chosen config does NOT beat the current one on the held-out tail "
            f"(--objective {objective}): it does worse there "
            f"({'; '.join(_worse_on(objective, current, picked))}), a trade or a fit to the "
            "search part that the search could not see."
        )
    if chosen < now:
        return (
            "The chosen config beats the current one on the held-out tail too "
            f"(--objective {objective})."
        )
    return (
        f"The chosen config matches the current one on the held-out tail (--objective "
        f"{objective}), "
        "but does not beat it there."
    )


def _worse_on(objective: Objective, current: Outcome, picked: Outcome) -> list[str]:
    """What the pick does worse on the tail, by does_worse's own tests: a pick better on both
    p95 and pod-seconds may fail on its p99 alone, and the table does not say which row."""
    said: list[str] = []

    def worse(what: str, now: float, chosen: float, form: str = ",.1f", unit: str = " s") -> None:
        if chosen > now:
            said.append(f"{what} {chosen:{form}}{unit} against {now:{form}}{unit}")

    worse("held-back tasks' p95", current.held_p95, picked.held_p95)
    if objective.kind == "balanced":  # which may buy one measure with the other
        worse("balanced score", 1.0, objective.score(picked, current), ".3f", "")
    else:
        worse("p95", current.p95, picked.p95)
        worse("p99", current.p99, picked.p99)
        worse("pod-seconds", current.pod_seconds, picked.pod_seconds, ",.0f", "")
    return said


def _share(part: float) -> str:
    """A part of the trace's span as a percentage, to a tenth under 1% or over 99% (where
    --holdout 0.999 left 0.1% to the search, and `0%` read as none)."""
    return f"{part:.1%}" if 0 < part < 0.01 or 0.99 < part < 1 else f"{part:.0%}"


def _cell(value: float) -> str:
    return f"{value:>13,}" if isinstance(value, int) else f"{value:>13,.1f}"
