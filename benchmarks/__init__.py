"""Benchmarks of the hub and of its parts; ``python -m benchmarks.harness`` runs them all."""
