"""Tests of bench.result."""
