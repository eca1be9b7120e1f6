"""bench plugin for the imaginary Acme A1 accelerator: the template a vendor copies.

- :mod:`bench_plugin_acme.sampler`: the ``acme`` sampler (entry point ``bench.samplers``);
- :mod:`bench_plugin_acme.device`: the ``acme`` device backend (entry point ``bench.devices``);
- :mod:`bench_plugin_acme.fake`: a simulated driver, for tests and the conformance kit.

Nothing is imported here: bench loads each piece only when it is named.
"""

__version__ = "0.1.0"
