"""A tenant's tokens today, counted by the minute so that two counts of one day merge without
counting a report twice (controller.core.tokens_today)."""

from __future__ import annotations

from controller.core.tokens_today import TokensToday

DAY_START = 86_400.0 * 3
H = 3600.0


def count(reports: list[tuple[float, int]], since: float = 0.0, until: float = 1e9) -> TokensToday:
    """What a process up from `since` to `until` seconds into the day counted of `reports`."""
    today = TokensToday(DAY_START, DAY_START + since)
    for at, tokens in reports:
        if since <= at < until:
            today.add(tokens, DAY_START + at)
    return today


REPORTS = [(t * 7.0, 1_000 + t) for t in range(2_000)]  # one every 7 s for almost 4 h
WHOLE = count(REPORTS)


def test_a_follower_started_mid_day_takes_the_morning_from_the_leader() -> None:
    """The leader saved at 3 h and died; the follower had counted since 1 h: with the merge
    it has every report, none of them twice."""
    saved = count(REPORTS, until=3 * H)
    follower = count(REPORTS, since=H)
    follower.merge(saved.minutes(), at=DAY_START + 3 * H)
    assert (follower.tokens, follower.tasks) == (WHOLE.tokens, WHOLE.tasks)


def test_a_restart_after_the_last_save_misses_only_what_no_process_was_up_for() -> None:
    saved = count(REPORTS, until=2 * H)
    restarted = count(REPORTS, since=2 * H + 300)  # down for five minutes
    restarted.merge(saved.minutes(), at=DAY_START + 2 * H)
    lost = sum(n for at, n in REPORTS if 2 * H <= at < 2 * H + 300)
    assert (restarted.tokens, restarted.tasks) == (WHOLE.tokens - lost, WHOLE.tasks - 43)


def test_a_count_made_before_this_one_began_is_added_in_the_minute_both_have() -> None:
    """Killed 10 s into a minute, the leader had saved 1,540,000 tokens of it; a process
    started 30 s into it counts 1,000 more: 1,541,000, not the larger of the two."""
    saved = TokensToday(DAY_START, DAY_START)
    saved.add(1_540_000, DAY_START + 605)
    successor = TokensToday(DAY_START, DAY_START + 630)
    successor.add(1_000, DAY_START + 640)
    successor.merge(saved.minutes(), at=DAY_START + 610)
    assert (successor.tokens, successor.tasks) == (1_541_000, 2)


def test_merging_again_changes_nothing() -> None:
    """A process merges the bucket when it starts and again when it becomes leader."""
    for at, since in ((2 * H, 3 * H), (3 * H, H)):  # saved before it began, or since
        saved = count(REPORTS, until=at)
        mine = count(REPORTS, since=since)
        mine.merge(saved.minutes(), at=DAY_START + at)
        once = (mine.tokens, mine.tasks, mine.minutes())
        mine.merge(saved.minutes(), at=DAY_START + at)
        mine.merge(mine.minutes(), at=DAY_START + 4 * H)
        assert (mine.tokens, mine.tasks, mine.minutes()) == once


def test_tokens_spent_before_anything_counted_add_no_task() -> None:
    today = count(REPORTS[:10])
    today.earlier(5_000_000)
    assert today.tokens == 5_000_000 + sum(n for _, n in REPORTS[:10])
    assert today.tasks == 10
