"""Smoke tests of the scripts under benchmarks/."""
