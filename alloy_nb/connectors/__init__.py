"""Pure payload builders for Alloy connector actions (no I/O; test them as data).

>>> from alloy_nb.connectors import google_drive
>>> google_drive.upload_file("651eb6e11d156e0d7a42c59d_report.pdf")["requestBody"]["metadata"]
{'name': 'report.pdf', 'mimeType': 'application/pdf'}
"""

from alloy_nb.connectors import google_drive

__all__ = ["google_drive"]
