"""Prometheus metrics, health checks, the operations console, dashboards and alert rules."""
