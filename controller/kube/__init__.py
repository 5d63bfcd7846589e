"""The Kubernetes actuator: pools as Deployments, scaled through their scale subresource.

`DeploymentScaler` is what the loop uses on a real cluster; the rest is how it talks to the
API (`api`), keeps watched objects current (`informer`) and reads them (`objects`, pure).
`KubernetesLease` elects the one process that scales, on a coordination.k8s.io Lease.
"""

from controller.kube.api import ApiFailure, KubeConfigError, RetryPolicy
from controller.kube.informer import Timing
from controller.kube.lease import KubernetesLease
from controller.kube.objects import ANNOTATION
from controller.kube.scaler import DeploymentScaler
from controller.sources import PoolUnavailable

__all__ = [
    "ANNOTATION",
    "ApiFailure",
    "DeploymentScaler",
    "KubeConfigError",
    "KubernetesLease",
    "PoolUnavailable",
    "RetryPolicy",
    "Timing",
]
