"""Benchmarks: the workload port of the peer's generator, and the engine benchmark."""
