"""Power and energy sources. The contract is in :mod:`bench.samplers.base`; backends are plugins."""
