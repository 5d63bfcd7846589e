"""Sources: what the loop reads. Queue lag and arrival rates from NATS JetStream, token usage
and busy pods from the workers' NATS reports or from Prometheus, and one tick's inputs from an
observations file (`agentdash plan`). Every answer passes a bounded model before it reaches
the core; a source that fails marks its pools stale, never scales them down. Sources and
actuators do not import each other."""
