"""Tests of bench.sweep."""
