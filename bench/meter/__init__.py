"""The meter: one background thread polls the samplers, streams the trace and measures named windows."""
