"""TEMPORARY old name of :mod:`._orphans`, kept only because _server.py (being changed on
another branch) imports it. Once that branch is merged: point _server.py at _orphans and delete
this file."""

from alloy_nb.sandbox._orphans import TEMP_PREFIX, claim_temp_dir, sweep_temp_dirs

__all__ = ["TEMP_PREFIX", "claim_temp_dir", "sweep_temp_dirs"]
