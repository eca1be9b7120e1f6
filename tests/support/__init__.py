"""Helpers the tests share: the example plugin installer, a Chromium driver, deliberately broken plugins."""
