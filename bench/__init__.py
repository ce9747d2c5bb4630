"""Benchmarks: `python -m bench.<name>` from the checkout; figures go to docs/benchmarks.md."""
