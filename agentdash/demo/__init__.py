"""`agentdash demo`: the whole system on one machine, with nothing installed."""
