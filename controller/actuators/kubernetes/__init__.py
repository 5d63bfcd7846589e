"""The Kubernetes actuator: pools as Deployments, scaled through their scale subresource.

`DeploymentScaler` is what the loop uses on a real cluster; the rest is how it talks to the
API (`api`), keeps watched objects current (`informer`) and reads them (`objects`, pure).
(The Kubernetes Lease that elects the one process that scales is in controller.coordination.)
"""

from controller.actuators.kubernetes.api import (
    ApiFailure,
    KubeConfigError,
    RetryPolicy,
    check_credentials,
)
from controller.actuators.kubernetes.informer import Timing
from controller.actuators.kubernetes.objects import ANNOTATION
from controller.actuators.kubernetes.scaler import DeploymentScaler
from controller.core.model import PoolUnavailable

__all__ = [
    "ANNOTATION",
    "ApiFailure",
    "DeploymentScaler",
    "KubeConfigError",
    "PoolUnavailable",
    "RetryPolicy",
    "Timing",
    "check_credentials",
]
