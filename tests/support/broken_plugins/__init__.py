"""Deliberately broken plugins: the conformance kit and the discovery must name what is wrong with each."""
