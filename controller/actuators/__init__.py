"""Actuators: what scales. Kubernetes Deployments through their scale subresource (with the
annotation, the Event and the pod-deletion cost that say why and which pod goes), and the
demo's simulated cluster in this process. Both also observe replicas, ready pods and pods for
the loop. Actuators and sources do not import each other."""
