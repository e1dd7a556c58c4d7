"""Framework for declarative HTTP connectors (see `base.HttpConnector`)."""

from connectors.http.base import HttpConnector, HttpSettings, iso, parse_time
from connectors.http.client import Request, Response, SafeClient
from connectors.http.paging import BodyFieldPaginator, LinkHeaderPaginator, PageNumberPaginator, Slide
from connectors.http.policy import OUTCOMES, Action, RetryPolicy, classify

__all__ = [
    "OUTCOMES",
    "Action",
    "BodyFieldPaginator",
    "HttpConnector",
    "HttpSettings",
    "LinkHeaderPaginator",
    "PageNumberPaginator",
    "Request",
    "Response",
    "RetryPolicy",
    "SafeClient",
    "Slide",
    "classify",
    "iso",
    "parse_time",
]
