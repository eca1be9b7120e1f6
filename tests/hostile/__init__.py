"""Hostile input: every file the harness reads and every number on its command line, made by someone else.

One module per kind of input (results, traces, bundles, keys, profiles, standards, command-line numbers, output
paths); :mod:`tests.hostile.corpus` holds the fixed corpus of known-dangerous inputs (ReDoS names, bombs,
escape sequences, markup), :mod:`tests.hostile.support` the checks every command run over it must pass: no
traceback, no hang, bounded memory, nothing printed that acts on a terminal, nothing written outside its target.
"""
