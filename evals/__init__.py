"""Benchmarks and golden conversations: `python -m evals NAME`."""
