"""Benchmarks and the memory soak of damsync (not part of ``make test``); see docs/benchmarks.md."""
