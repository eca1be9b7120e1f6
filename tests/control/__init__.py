"""Tests of bench.control."""
