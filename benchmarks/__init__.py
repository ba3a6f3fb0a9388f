"""Benchmarks of the toolkit against plain references (``python -m benchmarks.run``).

Timings live here, never in the test suite: each module measures one goal of the
performance issue side by side with its reference in the same process (interleaved where
the machine is noisy) and returns a JSON-able dict; :mod:`benchmarks.run` runs them all,
writes ``benchmarks/out/<timestamp>/results.json`` and prints a markdown table.
``benchmarks/RESULTS.md`` holds the curated figures with the command that made each.

Nothing trains or loads data on import.
"""
