"""Tests of bench.samplers."""
