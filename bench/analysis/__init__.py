"""Reads results only: statistics over repeats, validity checks, comparisons, the reviewer's DataFrame and
scoring against a standard. Nothing here touches a device or a sensor, so any result can be re-analysed
anywhere.
"""
