"""Coordination between agentdash processes: the leader lease (NATS KV or a Kubernetes
Lease) so exactly one scales, the operators' overrides (pins, pauses, dry-run) and their audit
shared through NATS KV, the time rules' history handed to the next leader, and what the
leader tells followers (its decisions and its event history on JetStream)."""
