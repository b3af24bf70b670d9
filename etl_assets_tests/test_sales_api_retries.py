"""The Sales API client retries what is transient, bounded in attempts and time."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest
import urllib3.util.retry

from etl_assets.sources.sales_api import (
    RetrySettings,
    SalesApiClient,
    SalesApiUnavailableError,
)
from etl_assets_tests.fault_server import (
    Drop,
    FaultServer,
    RecordedRequest,
    Reply,
    always,
)
from etl_assets_tests.ports import free_port
from etl_assets_tests.sales_api_support import (
    END,
    FAST,
    START,
    TOKEN,
    assert_token_hidden,
    client_for,
    fetch,
    fetch_error,
    records,
)
from etl_assets_tests.support import record_sleeps

# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------


def gap(server: FaultServer, index: int = 1) -> float:
    """Seconds between request ``index - 1`` and request ``index``."""
    return server.requests[index].received_at - server.requests[index - 1].received_at


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait between two attempts (urllib3 skips a zero backoff), in seconds, in order."""
    return record_sleeps(monkeypatch, urllib3.util.retry)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds(serve: Any, waits: list[float], status: int) -> None:
    server = serve([Reply(status, headers={"Retry-After": "1"}), Reply(json={"data": [1]})])
    with client_for(server) as client:
        assert records(list(client.iter_pages(START, END))) == [1]
        assert client.requests_sent == 2
    assert waits == [1]  # the Retry-After, and no backoff on top
    assert gap(server) >= 0.9


def test_retry_after_http_date(serve: Any, waits: list[float]) -> None:
    def script(request: RecordedRequest) -> Reply:
        if len(server.requests) == 1:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            return Reply(429, headers={"Retry-After": when})
        return Reply(json={"data": [1]})

    server = serve(script)
    assert records(fetch(server, retry=RetrySettings(retry_after_max=5, backoff_jitter=0))) == [1]
    # The date has whole seconds: the one wait ends at it, 1 to 2 s after the 429.
    assert len(waits) == 1 and 0 < waits[0] <= 2
    assert gap(server) >= 0.9


def test_retry_after_is_capped(serve: Any, waits: list[float]) -> None:
    server = serve([Reply(503, headers={"Retry-After": "3600"}), Reply(json={"data": [1]})])
    capped = RetrySettings(retry_after_max=0.3, backoff_jitter=0)
    assert records(fetch(server, retry=capped)) == [1]
    assert waits == [0.3]
    assert gap(server) >= 0.25


def test_server_error_with_html_body_then_success(serve: Any) -> None:
    html = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
    headers = {"Content-Type": "text/html"}
    server = serve([Reply(500, body=html, headers=headers), Reply(json={"data": [1]})])
    assert records(fetch(server)) == [1]
    assert len(server.requests) == 2


def test_dropped_connection_then_success(serve: Any) -> None:
    server = serve([Drop(), Reply(json={"data": [1]})])
    assert records(fetch(server)) == [1]
    assert len(server.requests) == 2


def test_dropped_connections_exhaust_retries(serve: Any) -> None:
    server = serve(always(Drop()))
    error = fetch_error(server, SalesApiUnavailableError)
    assert "connection dropped" in str(error) and error.status is None
    assert len(server.requests) == FAST.max_attempts


def test_unparsable_retry_after_falls_back_to_backoff(serve: Any, waits: list[float]) -> None:
    server = serve([Reply(503, headers={"Retry-After": "soon"}), Reply(json={"data": [1]})])
    assert records(fetch(server)) == [1]
    assert len(server.requests) == 2
    assert waits == []  # the backoff before a first retry is zero


def test_read_timeout_then_success(serve: Any) -> None:
    server = serve([Reply(json={"data": [0]}, delay=1.0), Reply(json={"data": [1]})])
    assert records(fetch(server, read_timeout=0.3)) == [1]
    assert len(server.requests) == 2


def test_read_timeouts_exhaust_retries(serve: Any) -> None:
    server = serve(always(Reply(json={"data": []}, delay=0.5)))
    settings = RetrySettings(max_attempts=2, backoff_factor=0.01, backoff_jitter=0)
    error = fetch_error(server, SalesApiUnavailableError, read_timeout=0.2, retry=settings)
    assert "read timed out" in str(error)
    assert error.status is None
    assert len(server.requests) == 2


def test_503_forever_gives_up_after_max_attempts(serve: Any) -> None:
    server = serve(always(Reply(503, json={"error": "down for maintenance"})))
    with client_for(server, token=TOKEN) as client:
        with pytest.raises(SalesApiUnavailableError) as info:
            list(client.iter_pages(START, END))
        assert client.requests_sent == FAST.max_attempts
    error = info.value
    assert_token_hidden(error)
    assert len(server.requests) == FAST.max_attempts
    assert error.status == 503 and error.retryable
    assert error.url is not None and error.url.startswith(f"{server.url}/orders?start=")
    assert f"after {FAST.max_attempts} attempts" in str(error)
    assert "last: 503 Service Unavailable" in str(error)
    assert str(error).startswith(f"Sales API unavailable: GET {server.url}/orders?")


def test_deadline_stops_retrying_early(serve: Any, waits: list[float]) -> None:
    server = serve(always(Reply(500)))
    settings = RetrySettings(
        max_attempts=20, backoff_factor=0.2, backoff_jitter=0, total_seconds=0.5
    )
    error = fetch_error(server, SalesApiUnavailableError, retry=settings)
    # Waits are 0, 0.4, 0.8, ... s: the third wait would end after the 0.5 s deadline, so the
    # client gives up without making it.
    assert waits == [0.4]
    assert len(server.requests) == 3
    assert "retry deadline" in str(error) and "last: 500" in str(error)


def test_deadline_applies_to_retry_after(serve: Any, waits: list[float]) -> None:
    server = serve(always(Reply(429, headers={"Retry-After": "5"})))
    settings = RetrySettings(retry_after_max=10, total_seconds=1)
    error = fetch_error(server, SalesApiUnavailableError, retry=settings)
    assert waits == []  # a 5 s wait would end past the 1 s deadline: none is started
    assert len(server.requests) == 1
    assert error.status == 429


def test_deadline_is_per_page(serve: Any, waits: list[float]) -> None:
    slow = [Reply(503), Reply(503)]
    page = Reply(json={"data": [1], "next": "/orders?c=x"})
    last = Reply(json={"data": [2], "next": None})
    server = serve([*slow, page, *slow, last])
    settings = RetrySettings(backoff_factor=0.15, backoff_jitter=0, total_seconds=0.4)
    assert records(fetch(server, retry=settings)) == [1, 2]
    assert len(server.requests) == 6
    # Per page: 0 s, then 0.3 s; a deadline shared by the pages would have ended at 0.4 s.
    assert waits == [0.3, 0.3]


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with SalesApiClient(url, retry=FAST, token=TOKEN) as client:
        with pytest.raises(SalesApiUnavailableError) as info:
            list(client.iter_pages(START, END))
        assert client.requests_sent == FAST.max_attempts
    error = info.value
    assert_token_hidden(error)
    assert f"GET {url}/orders?start=" in str(error)
    assert "could not connect" in str(error)
    assert error.status is None and error.retryable
