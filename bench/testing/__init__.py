"""Faithful fakes of hardware this machine may lack, trace builders and the plugin conformance kit.

Import-light on purpose: import the submodule you need (e.g. :mod:`bench.testing.fake_nvml`,
:mod:`bench.testing.fake_cuda`); nothing heavy is imported here.
"""
