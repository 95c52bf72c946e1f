"""Loaded by every pytest run in this repository (tests/, notebooks/, a single file):
tests/guard.py scrubs ``ALLOY_*`` before anything runs and fails the run on leftovers.

It lives here, not in tests/conftest.py, because ``pytest notebooks`` never reads that one.
"""

pytest_plugins = ["tests.guard"]
