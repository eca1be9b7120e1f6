"""Tests of bench.devices."""
