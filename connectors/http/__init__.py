"""HTTP connector on httpx."""

from connectors.http.connector import HttpConnector
from connectors.http.request import HttpRequest
from connectors.http.settings import HttpSettings

__all__ = ["HttpConnector", "HttpRequest", "HttpSettings"]
