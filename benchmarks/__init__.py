"""Benchmark scripts: `python -m benchmarks` runs every bench_*.py and writes benchmarks/results.md."""
