"""Tests of bench.conformance."""
