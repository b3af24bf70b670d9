"""HTTP client for the Sales API: session, retries, timeouts, auth, pagination, typed errors.

The client yields the API's pages as they arrive and never looks inside a record::

    with SalesApiClient("http://127.0.0.1:8765", token=token) as client:
        for page in client.iter_pages(start, end):
            handle(page.records)

Retries are urllib3's (``Retry`` mounted on the session), extended with a cap on ``Retry-After``
and a deadline for the whole retry sequence of one page request. Every failure is raised as a
``SalesApiError`` subclass whose message names the URL and the cause, and never the token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Self, TypeVar
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from etl_assets.sources.errors import (
    SalesApiAuthError,
    SalesApiClientError,
    SalesApiConfigError,
    SalesApiContractError,
    SalesApiError,
    SalesApiUnavailableError,
)
from etl_assets.sources.http import PreparedGets, describe_failure, error_text, read_body
from etl_assets.sources.page import Page, PageProblem, PageReader
from etl_assets.sources.retry import RETRY_STATUSES, Attempts, RetrySettings, SalesRetry
from etl_assets.sources.urls import format_time, origin, resolve_link, validate_base_url

__all__ = [
    "ORDERS_PATH",
    "RETRY_STATUSES",
    "USER_AGENT",
    "Page",
    "RetrySettings",
    "SalesApiAuthError",
    "SalesApiClient",
    "SalesApiClientError",
    "SalesApiConfigError",
    "SalesApiContractError",
    "SalesApiError",
    "SalesApiUnavailableError",
    "validate_base_url",
]

#: Path of the orders listing, relative to the base URL.
ORDERS_PATH = "/orders"


def _user_agent() -> str:
    try:
        return f"etl_assets/{version('etl_assets')}"
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "etl_assets/0+unknown"


USER_AGENT = _user_agent()


_E = TypeVar("_E", bound=SalesApiError)


class SalesApiClient:
    """Reads the Sales API's ``/orders`` listing, page by page.

    One ``requests.Session`` per client; not thread-safe (one iteration at a time). Use as a
    context manager, or call ``close()``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        page_size: int = 1000,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retry: RetrySettings = RetrySettings(),  # frozen: safe to share
        max_pages: int = 100_000,
    ) -> None:
        self.base_url = validate_base_url(base_url)
        token = token.strip() if token else None
        if token and any(ch.isspace() or not ch.isprintable() for ch in token):
            raise SalesApiConfigError(
                "the API token must not contain whitespace or control characters "
                "(check SALES_API_TOKEN)"
            )
        if token and not token.isascii():  # an HTTP header carries no other characters
            raise SalesApiConfigError("the API token must be ASCII text (check SALES_API_TOKEN)")
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("connect_timeout and read_timeout must be positive")
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self._token = token or None
        self.page_size = page_size
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry
        self.max_pages = max_pages
        #: HTTP attempts made so far, retries included.
        self.requests_sent = 0

        self._adapter = HTTPAdapter(max_retries=self._new_retry(Attempts()))
        self._session = requests.Session()
        self._session.mount("http://", self._adapter)
        self._session.mount("https://", self._adapter)
        self._session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        self._take_environment_once()
        if self._token:
            self._session.headers["Authorization"] = f"Bearer {self._token}"
        self._gets = PreparedGets(self._session)  # the session's headers are final
        self._reader = PageReader()

    def _take_environment_once(self) -> None:
        """Apply the proxy and CA-bundle environment variables now, for the API's origin.

        requests reads them again on every request (hundreds of environment lookups a page,
        ~0.3 s over a day of pages); every request of this client goes to one origin, so once
        is enough. ``.netrc`` is not consulted: its Basic credentials would replace the token.
        """
        settings = self._session.merge_environment_settings(self.base_url, {}, None, None, None)
        self._session.proxies.update(settings["proxies"])
        self._session.verify = settings["verify"]
        self._session.trust_env = False

    def __repr__(self) -> str:
        return f"SalesApiClient({self.base_url!r}, page_size={self.page_size})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections of the session and the page reader's DuckDB session."""
        self._session.close()
        self._reader.close()

    def iter_pages(self, start: datetime, end: datetime) -> Iterator[Page]:
        """Yield the pages of orders whose timestamp lies in ``[start, end)``, following ``next``.

        ``start`` and ``end`` must be timezone-aware; they are sent in UTC.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware datetimes (e.g. UTC)")
        if end <= start:
            raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
        query = urlencode(
            {"start": format_time(start), "end": format_time(end), "page_size": self.page_size},
            safe=":",
        )
        return self._pages(f"{self.base_url}{ORDERS_PATH}?{query}")

    # ---------------------------------------------------------------------------------------

    def _pages(self, url: str | None) -> Iterator[Page]:
        fetched: set[str] = set()
        number = 0
        while url is not None:
            if number >= self.max_pages:
                raise self._error(
                    SalesApiContractError,
                    f"Sales API returned more than {self.max_pages} pages; stopped before "
                    f"GET {url} (raise max_pages if this is expected)",
                    url=url,
                )
            number += 1
            fetched.add(url)
            page, url = self._fetch_page(number, url)
            yield page
            if url in fetched:
                raise self._error(
                    SalesApiContractError,
                    f"Sales API pagination loop: page {number} (GET {page.url}) links to "
                    f"{url}, which was already fetched",
                    url=url,
                )

    def _fetch_page(self, number: int, url: str) -> tuple[Page, str | None]:
        """Fetch and check one page; return it with the absolute URL of the next one (or None)."""
        started = time.monotonic()
        response = self._get(url)
        elapsed = time.monotonic() - started
        fetched_at = datetime.now(UTC)

        def broken(problem: str) -> SalesApiContractError:
            return self._error(
                SalesApiContractError,
                f"Sales API page {number} (GET {url}) breaks the contract: {problem}",
                url=url,
                status=response.status_code,
            )

        try:
            content = self._reader.read(response)
        except PageProblem as problem:
            raise broken(str(problem)) from None

        link, next_url = content.link, None
        if link is not None:
            next_url = resolve_link(link, url, self.base_url)
            if not link.strip() or origin(next_url) != origin(self.base_url):
                raise broken(
                    f'"next" must be a URL on {self.base_url}, got {link!r} '
                    "(the token is only sent to the Sales API)"
                )
        page = Page(
            number=number,
            url=url,
            content=content,
            fetched_at=fetched_at,
            elapsed_seconds=elapsed,
        )
        return page, next_url

    def _new_retry(self, attempts: Attempts) -> SalesRetry:
        settings = self.retry
        retries = settings.max_attempts - 1
        return SalesRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
            backoff_factor=settings.backoff_factor,
            backoff_max=settings.backoff_max,
            backoff_jitter=settings.backoff_jitter,
            retry_after_cap=settings.retry_after_max,
            deadline=time.monotonic() + settings.total_seconds,
            attempts=attempts,
        )

    def _get(self, url: str) -> requests.Response:
        """GET ``url`` with retries; return a 2xx response or raise the matching error."""
        started = time.monotonic()
        attempts = Attempts()
        # A fresh Retry per page request: its deadline starts now and it counts this request only.
        self._adapter.max_retries = self._new_retry(attempts)
        failure = None
        try:
            response = self._gets.get(url, timeout=self.timeout, stream=True)
            read_body(response)
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.RetryError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            failure, unavailable = describe_failure(exc), True
        except requests.RequestException as exc:
            failure, unavailable = describe_failure(exc), False
        # Errors are raised outside the except blocks so that they carry no chained context:
        # the requests exception holds the prepared request, Authorization header included.
        if failure is not None:
            self.requests_sent += attempts.made
            if unavailable:
                raise self._unavailable(url, started, attempts, failure, status=None)
            raise self._error(SalesApiContractError, f"GET {url} failed: {failure}", url=url)

        self.requests_sent += attempts.made
        status = response.status_code
        if 200 <= status < 300:
            return response
        described = f"{status} {response.reason}".strip()
        if status in (401, 403):
            if self._token:
                what = "refused the token (check SALES_API_TOKEN)"
            else:
                what = "requires a token: set SALES_API_TOKEN"
            raise self._error(
                SalesApiAuthError,
                f"Sales API {what}: GET {url} -> {described}{error_text(response)}",
                url=url,
                status=status,
            )
        if status in RETRY_STATUSES:
            raise self._unavailable(url, started, attempts, described, status=status)
        if 400 <= status < 500:
            raise self._error(
                SalesApiClientError,
                f"Sales API rejected the request: GET {url} -> {described}{error_text(response)}",
                url=url,
                status=status,
            )
        raise self._error(
            SalesApiContractError,
            f"Sales API answered GET {url} with unexpected status {described}",
            url=url,
            status=status,
        )

    def _unavailable(
        self, url: str, started: float, attempts: Attempts, last: str, *, status: int | None
    ) -> SalesApiUnavailableError:
        count = attempts.made
        message = (
            f"Sales API unavailable: GET {url} failed after {count} "
            f"attempt{'' if count == 1 else 's'} in {time.monotonic() - started:.1f} s "
            f"(last: {last})"
        )
        if attempts.deadline_hit:
            message += f"; gave up at the retry deadline of {self.retry.total_seconds:g} s"
        return self._error(SalesApiUnavailableError, message, url=url, status=status)

    def _error(self, kind: type[_E], message: str, *, url: str, status: int | None = None) -> _E:
        return kind(self._redact(message), url=self._redact(url), status=status)

    def _redact(self, text: str) -> str:
        # The token only travels in the Authorization header, but a server may echo it back.
        return text.replace(self._token, "***") if self._token else text
