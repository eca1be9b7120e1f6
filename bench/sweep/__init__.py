"""Sweeps: full measured runs of the same workloads at several device settings (power limits, locked clocks),
the settings put back afterwards: config (one pydantic model), control (finding a device's control, applying and
restoring settings), sweeper (the sweep), restore (what a killed sweep left in force)."""
