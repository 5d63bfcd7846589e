"""Step 2 worked out once a reading (controller.core.policy.demanded, which the engine keeps per
reading) gives the very claim that works it out itself: the same numbers, the same reasons."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.config import Config
from controller.core.demand import Footprint, demanded, footprint
from controller.core.history import History
from controller.core.model import Observations, Overrides
from controller.core.policy import claim
from tests.support.records import replaced
from tests.support.strategies import ARRIVAL_RATE, MEAN_TASK_SECONDS, REPLICAS, examples, fleets


@given(fleets(), st.data())
@settings(max_examples=examples(150), deadline=None)
def test_a_claim_given_its_readings_step_2_is_the_claim_that_works_it_out(
    fleet: tuple[Config, Observations, Overrides], data: st.DataObject
) -> None:
    cfg, observations, overrides = fleet
    now, history = 1000.0, History(cfg)
    seen = {}
    for name, obs in observations.pools.items():
        seen[name] = replaced(
            obs,
            ready=data.draw(REPLICAS),
            arrival_rate=data.draw(ARRIVAL_RATE),
            mean_task_seconds=data.draw(MEAN_TASK_SECONDS),
            stale=data.draw(st.none() | st.just("queue unreadable")),
        )
        # A past for the time rules to act on: a window and a rate policy quote it.
        for t in sorted(data.draw(st.lists(st.floats(now - 600, now - 1), max_size=4))):
            recommended, lag = data.draw(st.integers(0, 20)), data.draw(st.integers(0, 2))
            history.record_pool(name, recommended, lag, t)
    readings = Observations(seen, observations.tokens_today)
    for name, obs in seen.items():
        pool_cfg, wait = cfg.pools[name], cfg.target_wait[name]
        once = demanded(pool_cfg, obs, wait)
        assert once.footprint == footprint(pool_cfg, obs, wait)
        given_it = claim(name, pool_cfg, cfg, readings, overrides, history, now, once)
        itself = claim(name, pool_cfg, cfg, readings, overrides, history, now)
        assert given_it == itself
        assert given_it.decision() == itself.decision()  # the reasons as an operator reads them


def test_two_footprints_differing_in_any_field_differ() -> None:
    # The engine claims a pool again only when its footprint differs: Footprint's own
    # equality must see every field (a new one included).
    base = {
        "stale": False,
        "replicas": 3,
        "demand": 2,
        "lagging": True,
        "busy": 1,
        "top": 4,
        "in_flight": False,
    }
    assert set(Footprint.FIELDS) == set(base), "a new field of Footprint: give it a value here"
    assert Footprint(**base) == Footprint(**base)
    for name, value in base.items():
        other = not value if isinstance(value, bool) else value + 1
        assert Footprint(**base) != Footprint(**{**base, name: other}), name
