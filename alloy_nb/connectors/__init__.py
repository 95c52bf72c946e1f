"""Connector actions: typed requests (:class:`ActionRequest`) from pure builders, tested as
data; ``Client.execute_action`` sends them.

>>> from alloy_nb.connectors import google_drive
>>> request = google_drive.upload_file("651eb6e11d156e0d7a42c59d_report.pdf")
>>> request["requestBody"]["metadata"]
{'name': 'report.pdf', 'mimeType': 'application/pdf'}
"""

from alloy_nb.connectors import google_drive
from alloy_nb.connectors._action import ActionRequest
from alloy_nb.connectors._results import unwrap_result

__all__ = ["ActionRequest", "google_drive", "unwrap_result"]
