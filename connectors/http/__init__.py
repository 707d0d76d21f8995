"""HTTP connector on httpx."""

from connectors.http.connector import HttpConnector
from connectors.http.request import HttpRequest
from connectors.http.source_config import HttpSettings

__all__ = ["HttpConnector", "HttpRequest", "HttpSettings"]
