"""The KEDA model (controller.simulate.baselines.KedaScaler) against KEDA's own code, v2.20.2,
where the HPA has no say: activation, scale from and to zero, the cooldown, minReplicaCount.
KEDA cannot run here, so each case is worked out from the code it cites:

- pkg/scalers/nats_jetstream_scaler.go, getMaxMsgLag and GetMetricsAndActivity: the lag is the
  consumer's num_pending + num_ack_pending; the trigger is active when lag >
  activationLagThreshold (default 0).
- pkg/scaling/executor/scale_scaledobjects.go, RequestScale: active at 0 replicas ->
  scaleFromZeroOrIdle (to minReplicaCount if above 0, else 1) and LastActiveTime = now; active
  above 0 -> LastActiveTime = now, the HPA scales; inactive above 0 with minReplicaCount 0 ->
  scaleToZeroOrIdle, which scales to 0 once LastActiveTime + cooldownPeriod is strictly before
  now (time.Time.Before; cooldownPeriod default 300 s, scale_executor.go). LastActiveTime is a
  metav1.Time in the ScaledObject's status, which the API server keeps to the second, and
  polls are pollingInterval apart or a little more: so the poll one cooldown after the last
  active one already scales to zero. The model's polls are exact, so it tests <=.
- apis/keda/v1alpha1/scaledobject_types.go, GetHPAMinReplicas: the HPA's min is
  minReplicaCount where above 0, else 1; at 0 replicas the HPA is disabled.

Each is checked every pollingInterval (default 30 s), as the model polls.
"""

from __future__ import annotations

from controller.simulate.baselines import BaselineSettings, KedaScaler
from controller.simulate.cluster import Cluster
from tests.support.builders import replay, trace
from tests.support.factories import config, pool


def keda(rows: list[tuple[float, str, float, int]], **fields: object) -> Cluster:
    cfg = config({"a": pool("t", max_replicas=20, cold_start_seconds=0, **fields)})
    return replay(cfg, trace(cfg, *rows), KedaScaler(cfg), drain=900)


def test_the_cooldown_counts_from_the_last_poll_that_saw_lag_not_from_the_last_task() -> None:
    # One 45 s task at 0: the polls at 0 and 30 s see it (lag 1, active); the one at 60 s sees
    # none. LastActiveTime is 30 s: the poll at 330 s scales to 0. (The HPA holds 1, its min.)
    assert keda([(0.0, "a", 45.0, 1)]).steps == [(0.0, "a", 0, 1), (330.0, "a", 1, 0)]


def test_the_poll_one_cooldown_after_the_last_active_one_scales_to_zero() -> None:
    # Active only at the poll at 0: in KEDA that poll's time is kept to the second and the
    # poll 300 s later comes a little after it, so 0 + 300 is before it: 300, not 330.
    assert keda([(0.0, "a", 10.0, 1)]).steps == [(0.0, "a", 0, 1), (300.0, "a", 1, 0)]


def test_a_shorter_cooldown_and_polling_interval_are_kept_to() -> None:
    cfg = config({"a": pool("t", max_replicas=20, cold_start_seconds=0)})
    settings = BaselineSettings(keda_polling_interval=10.0, keda_cooldown_period=60.0)
    cluster = replay(cfg, trace(cfg, (0.0, "a", 5.0, 1)), KedaScaler(cfg, settings), drain=300)
    # Active at the poll at 0 only: the poll at 60 s scales to 0.
    assert cluster.steps == [(0.0, "a", 0, 1), (60.0, "a", 1, 0)]


def test_with_a_min_replica_count_it_never_goes_to_zero_and_its_hpa_keeps_that_min() -> None:
    # minReplicaCount 2: the target starts at 2 and no inactive poll scales it down; the HPA,
    # whose min is 2, takes it up for a burst and back to 2 after its 300 s window.
    rows = [(0.0, "a", 10.0, 1)] * 8
    steps = keda(rows, min_replicas=2, target_lag_per_replica=2).steps
    assert steps[0][2:] == (2, 4)
    assert [step[3] for step in steps][-1] == 2
    assert all(step[3] >= 2 for step in steps)


def test_an_activation_threshold_counts_tasks_running_as_lag() -> None:
    # Three 100 s tasks at 0 on an activation of 2: lag 3 > 2 wakes it; at 30 s they still run
    # (ack pending, lag 3): still active, so LastActiveTime moves on while nothing waits.
    steps = keda([(0.0, "a", 100.0, 1)] * 3, activation_lag=2).steps
    assert steps[0] == (0.0, "a", 0, 1)
    to_zero = [t for t, _, old, new in steps if new == 0]
    assert to_zero == [390.0]  # the last active poll at 90 s (tasks run to 100 s): 90 + 300
