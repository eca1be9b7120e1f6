"""Tests of bench.meter."""
