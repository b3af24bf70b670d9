"""Retries for the Sales API client: urllib3's ``Retry`` with a ``Retry-After`` cap and a deadline.

urllib3 already honours ``Retry-After`` (seconds and HTTP dates), backs off exponentially with
jitter and retries only idempotent methods; this adds the two things it lacks: a cap on what a
server may ask us to wait, and a deadline for the whole retry sequence of one page request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry

#: Statuses retried by urllib3: rate limiting and every server error.
RETRY_STATUSES = frozenset({429, *range(500, 600)})


@dataclass(frozen=True)
class RetrySettings:
    """How hard the client tries before raising ``SalesApiUnavailableError``.

    All of it applies to ONE page request; each page starts afresh.
    """

    #: Attempts per page request, the first included (1 = never retry).
    max_attempts: int = 6
    #: Exponential backoff: the n-th retry waits ``backoff_factor * 2 ** (n - 1)`` seconds
    #: (urllib3 retries the first failure at once).
    backoff_factor: float = 0.5
    #: Upper bound, in seconds, of one backoff wait.
    backoff_max: float = 10.0
    #: Random extra wait, uniform in ``[0, backoff_jitter]`` seconds, added to each backoff so
    #: that many clients do not retry in lockstep.
    backoff_jitter: float = 0.5
    #: Upper bound, in seconds, of a wait asked by a ``Retry-After`` header (a server may ask
    #: for an hour).
    retry_after_max: float = 30.0
    #: Deadline, in seconds, for the whole retry sequence of one page request: no retry starts
    #: if its wait would end past it. The last attempt may still take up to its timeouts.
    total_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("backoff_factor", "backoff_max", "backoff_jitter", "retry_after_max"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.total_seconds <= 0:
            raise ValueError(f"total_seconds must be positive, got {self.total_seconds}")


@dataclass
class Attempts:
    """Shared by the Retry objects of one page request (urllib3 makes a new one per retry)."""

    failed: int = 0
    gave_up: bool = False
    deadline_hit: bool = False

    @property
    def made(self) -> int:
        """Attempts sent: the failed ones, plus the last one unless it failed too."""
        return self.failed + (0 if self.gave_up else 1)


class SalesRetry(Retry):
    """``Retry`` that caps ``Retry-After`` and stops at a monotonic deadline."""

    def __init__(
        self,
        *args: Any,
        retry_after_cap: float = RetrySettings.retry_after_max,
        deadline: float | None = None,
        attempts: Attempts | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after_cap = retry_after_cap
        self.deadline = deadline
        self.attempts = attempts if attempts is not None else Attempts()

    def new(self, **kw: Any) -> Self:
        kw.setdefault("retry_after_cap", self.retry_after_cap)
        kw.setdefault("deadline", self.deadline)
        kw.setdefault("attempts", self.attempts)
        return super().new(**kw)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:  # unparsable Retry-After: fall back to exponential backoff
            return None
        return None if seconds is None else min(seconds, self.retry_after_cap)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        self.attempts.failed += 1
        try:
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError:
            self.attempts.gave_up = True
            raise
        if self.deadline is not None:
            wait = (response is not None and retry.get_retry_after(response)) or (
                retry.get_backoff_time()
            )
            if time.monotonic() + wait > self.deadline:
                self.attempts.gave_up = self.attempts.deadline_hit = True
                reason = error or ResponseError("retry deadline reached")
                raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        return retry
