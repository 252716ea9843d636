"""Benchmarks: ratios against baselines measured in the same run; see bench/goals.py."""
