"""Running newsbot as a service: the health/metrics HTTP server, health checks, Prometheus metrics,
log formatting and the event-loop lag monitor. Built and closed by the composition root
(``bot/cli/run.py``); nothing here runs at import time and nothing is module-level state."""
