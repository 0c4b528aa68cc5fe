"""Benchmarks and straightforward reference implementations used to check the fast code."""
