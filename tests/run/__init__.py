"""Tests of bench.run."""
