"""The Sales API client's errors: one class per way a request can fail, none carrying the token.

``retryable`` tells the orchestration layer whether running again later may help: only
``SalesApiUnavailableError`` is (the API was down or overloaded); a refused token, a wrong request,
a broken contract or a wrong setting fail the same way every time.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SalesApiError(Exception):
    """Base class of every error raised by the Sales API client.

    ``url`` is the request that failed and ``status`` its last HTTP status (None when no
    response arrived). ``retryable`` tells the orchestration layer whether running again later
    may help.
    """

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:  # keep url/status when pickled across processes
        return (type(self), self.args, self.__dict__)


class SalesApiAuthError(SalesApiError):
    """401/403: the token was refused, or the API needs one. Not retried."""


class SalesApiClientError(SalesApiError):
    """Any other 4xx: the request itself is wrong. Not retried."""

    status: int


class SalesApiUnavailableError(SalesApiError):
    """429/5xx, timeouts or connection errors that outlasted every retry."""

    retryable: ClassVar[bool] = True


class SalesApiContractError(SalesApiError):
    """The API answered, but not as its contract says (body, ``next`` link, endless pages)."""


class SalesApiConfigError(SalesApiError, ValueError):
    """The client's own settings are wrong (URL, token): no request was sent. Not retried."""
