"""alloy_nb: move files between Jupyter notebooks, Alloy's File Management API and connectors.

The offline sandbox lives in :mod:`alloy_nb.sandbox` and is never imported from here.
"""

from alloy_nb._md5 import MD5, md5_file, to_base64, to_hex

__all__ = ["MD5", "__version__", "md5_file", "to_base64", "to_hex"]

__version__ = "0.1.0"

for _name in ("MD5", "md5_file", "to_base64", "to_hex"):
    globals()[_name].__module__ = "alloy_nb"
del _name
