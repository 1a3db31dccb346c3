"""Benchmarks (not tests): `make bench` runs `python -m bench.run_all`; figures go to bench/RESULTS.md."""
