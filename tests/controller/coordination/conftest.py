"""The Kubernetes Lease (controller/coordination/kube_lease.py) is tested on kmock's emulator,
as the actuator is: its fixtures come from there."""

from tests.support.kmock import cluster, kmock_options

__all__ = ["cluster", "kmock_options"]
