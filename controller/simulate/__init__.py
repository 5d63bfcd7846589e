"""The backtest: replay a workload in virtual time under agentdash, KEDA and the HPA.

trace       the JSON-lines trace format, read and written
generate    synthetic traces (bursty, diurnal, spiky), seeded
cluster     queues, pods with cold starts, the pod quota, token accounting
clock       the discrete-event loop: virtual time
shell       agentdash: the live loop's engine (controller.core.engine) in virtual time
hpa         the HPA's replica algorithm; baselines: the HPA and KEDA as autoscalers
report      what a run achieved; lower_bound: what a clairvoyant scaler would pay
backtest    all of it for one trace and several policies; plot: the SVG
"""
