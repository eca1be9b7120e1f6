"""Tests of the built-in workloads (bench_workloads)."""
