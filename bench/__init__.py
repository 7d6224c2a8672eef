"""Benchmarks: SDK overhead, ingest, queries and storage (see docs/performance.md).

Each area is one command (`python -m bench.<area>`) that prints a table and writes JSON
under `bench/results/`; `python -m bench.run_all` runs them all, `--smoke` in seconds.
"""
