"""The pure core: the config, the plain values that flow through the brain, the policy, the
shared ceilings, the time rules' history and the reconcile engine. No I/O and no clock: every
function takes `now`, so the live loop, the tests and the backtest run exactly this code. It
imports nothing of the layers around it (an import-linter contract in `make test`)."""
