"""Tests of bench.distributed."""
