"""TEMPORARY old name of :mod:`._datadir_lock`, kept only because _server.py (being changed on
another branch) imports it. Once that branch is merged: point _server.py at _datadir_lock and
delete this file."""

from alloy_nb.sandbox._datadir_lock import DataDirInUse, Owner, claim

__all__ = ["DataDirInUse", "Owner", "claim"]
