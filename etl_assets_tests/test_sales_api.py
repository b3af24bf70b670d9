"""Tests of the Sales API client against a real local HTTP server that injects faults."""

from __future__ import annotations

import email.utils
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from etl_assets.sources.sales_api import (
    USER_AGENT,
    Page,
    RetrySettings,
    SalesApiAuthError,
    SalesApiClient,
    SalesApiClientError,
    SalesApiContractError,
    SalesApiError,
    SalesApiUnavailableError,
    validate_base_url,
)
from etl_assets_tests.fault_server import (
    Drop,
    FaultServer,
    RecordedRequest,
    Reply,
    Script,
    always,
    paginated,
    unused_port,
)

TOKEN = "s3cr3t-tok3n-XYZ"
START = datetime(2026, 11, 20, tzinfo=UTC)
END = START + timedelta(days=1)
FAST = RetrySettings(
    max_attempts=4,
    backoff_factor=0.01,
    backoff_max=0.05,
    backoff_jitter=0.0,
    retry_after_max=1.5,
    total_seconds=10.0,
)
EMPTY = Reply(json={"data": [], "next": None})


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(script)`` starts a FaultServer that is stopped after the test."""
    servers: list[FaultServer] = []

    def start(script: Script) -> FaultServer:
        servers.append(FaultServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def client_for(server: FaultServer, **kwargs: Any) -> SalesApiClient:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("read_timeout", 2.0)
    kwargs.setdefault("connect_timeout", 1.0)
    return SalesApiClient(server.url, **kwargs)


def fetch(server: FaultServer, **kwargs: Any) -> list[Page]:
    with client_for(server, **kwargs) as client:
        return list(client.iter_pages(START, END))


def records(pages: list[Page]) -> list[Any]:
    return [record for page in pages for record in page.records]


def fetch_error(server: FaultServer, kind: type[SalesApiError], **kwargs: Any) -> SalesApiError:
    with pytest.raises(kind) as info:
        fetch(server, **kwargs)
    assert_token_hidden(info.value)
    return info.value


def assert_token_hidden(exc: BaseException) -> None:
    text = str(exc) + repr(exc) + "".join(traceback.format_exception(exc)) + str(vars(exc))
    assert TOKEN not in text


# --------------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------------


def test_first_request_carries_window_page_size_and_headers(serve: Any) -> None:
    server = serve([EMPTY])
    fetch(server, page_size=250, token=TOKEN)
    (request,) = server.requests
    assert request.path.startswith("/orders?")
    assert request.query == {
        "start": "2026-11-20T00:00:00Z",
        "end": "2026-11-21T00:00:00Z",
        "page_size": "250",
    }
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("etl_assets/")


def test_window_is_sent_in_utc() -> None:
    with FaultServer([EMPTY]) as server:
        paris = timezone(timedelta(hours=1))
        with client_for(server) as client:
            list(client.iter_pages(datetime(2026, 11, 20, 1, tzinfo=paris), END))
        assert server.requests[0].query["start"] == "2026-11-20T00:00:00Z"


def test_no_authorization_header_without_token(serve: Any) -> None:
    server = serve([EMPTY])
    fetch(server)
    assert "authorization" not in server.requests[0].headers


def test_absolute_next(serve: Any) -> None:
    def script(request: RecordedRequest) -> Reply:
        if request.path.startswith("/orders?start="):
            return Reply(json={"data": [1, 2], "next": f"{server.url}/orders?cursor=2"})
        return Reply(json={"data": [3], "next": None})

    server = serve(script)
    pages = fetch(server)
    assert records(pages) == [1, 2, 3]
    assert [page.number for page in pages] == [1, 2]
    assert server.requests[1].path == "/orders?cursor=2"
    assert pages[1].url == f"{server.url}/orders?cursor=2"
    assert pages[0].fetched_at.tzinfo is UTC and pages[0].elapsed_seconds >= 0


@pytest.mark.parametrize(
    ("link", "expected_path"),
    [
        ("/orders?cursor=2", "/orders?cursor=2"),
        ("orders?cursor=2", "/orders?cursor=2"),
        ("?cursor=2", "/orders?cursor=2"),
    ],
)
def test_relative_next(serve: Any, link: str, expected_path: str) -> None:
    server = serve(paginated([[{"id": 1}], [{"id": 2}]], next_link=lambda _n: link))
    assert records(fetch(server)) == [{"id": 1}, {"id": 2}]
    assert server.requests[1].path == expected_path


def test_relative_next_under_a_base_path(serve: Any) -> None:
    server = serve(paginated([[1], [2]], next_link=lambda n: f"orders?cursor={n}"))
    with SalesApiClient(server.url + "/api/v1/", retry=FAST) as client:
        assert records(list(client.iter_pages(START, END))) == [1, 2]
    assert server.requests[0].path.startswith("/api/v1/orders?start=")
    assert server.requests[1].path == "/api/v1/orders?cursor=2"


def test_link_header_when_next_key_absent(serve: Any) -> None:
    server = serve(
        [
            Reply(json={"data": [1]}, headers={"Link": '</orders?cursor=2>; rel="next"'}),
            Reply(json={"data": [2]}, headers={"Link": '<?cursor=3>; rel="next"'}),
            Reply(json={"data": [3]}),
        ]
    )
    assert records(fetch(server)) == [1, 2, 3]
    assert [r.path for r in server.requests[1:]] == ["/orders?cursor=2", "/orders?cursor=3"]


def test_null_next_wins_over_link_header(serve: Any) -> None:
    link = {"Link": '</orders?cursor=2>; rel="next"'}
    server = serve([Reply(json={"data": [1], "next": None}, headers=link)])
    assert records(fetch(server)) == [1]
    assert len(server.requests) == 1


def test_missing_next_and_no_link_stops(serve: Any) -> None:
    server = serve([Reply(json={"data": [1, 2]})])
    assert records(fetch(server)) == [1, 2]
    assert len(server.requests) == 1


def test_short_and_empty_pages_before_the_last(serve: Any) -> None:
    server = serve(paginated([[1, 2, 3], [], [4], [], [5, 6]]))
    pages = fetch(server, page_size=3)
    assert records(pages) == [1, 2, 3, 4, 5, 6]
    assert [len(page.records) for page in pages] == [3, 0, 1, 0, 2]


def test_server_capped_page_size(serve: Any) -> None:
    chunks = [list(range(i, i + 10)) for i in range(0, 50, 10)]
    server = serve(paginated(chunks))
    pages = fetch(server, page_size=1000)
    assert records(pages) == list(range(50))
    assert len(pages) == 5
    assert server.requests[0].query["page_size"] == "1000"


def test_records_pass_through_untouched(serve: Any) -> None:
    weird = [{"id": 1, "unknown": {"nested": [1, None]}}, "text", 3.5, [1, 2], None, True]
    server = serve(paginated([weird]))
    assert records(fetch(server)) == weird


def test_repeated_next_is_a_contract_error(serve: Any) -> None:
    server = serve(always(Reply(json={"data": [1], "next": "/orders?cursor=same"})))
    error = fetch_error(server, SalesApiContractError)
    assert "loop" in str(error) and "cursor=same" in str(error)
    assert len(server.requests) == 2


def test_next_to_the_page_itself_is_a_contract_error(serve: Any) -> None:
    server = serve(lambda request: Reply(json={"data": [], "next": request.path}))
    fetch_error(server, SalesApiContractError)
    assert len(server.requests) == 1


def test_too_many_pages(serve: Any) -> None:
    server = serve(lambda r: Reply(json={"data": [], "next": f"/orders?c={len(server.requests)}"}))
    error = fetch_error(server, SalesApiContractError, max_pages=3)
    assert "more than 3 pages" in str(error)
    assert len(server.requests) == 3


def test_next_to_another_host_is_refused(serve: Any) -> None:
    server = serve([Reply(json={"data": [1], "next": "http://elsewhere.example/orders?c=2"})])
    error = fetch_error(server, SalesApiContractError, token=TOKEN)
    assert "elsewhere.example" in str(error)
    assert len(server.requests) == 1


# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------


def gap(server: FaultServer, index: int = 1) -> float:
    """Seconds between request ``index - 1`` and request ``index``."""
    return server.requests[index].received_at - server.requests[index - 1].received_at


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds(serve: Any, status: int) -> None:
    server = serve([Reply(status, headers={"Retry-After": "1"}), Reply(json={"data": [1]})])
    with client_for(server) as client:
        assert records(list(client.iter_pages(START, END))) == [1]
        assert client.requests_sent == 2
    assert 0.9 <= gap(server) < 1.5


def test_retry_after_http_date(serve: Any) -> None:
    def script(request: RecordedRequest) -> Reply:
        if len(server.requests) == 1:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            return Reply(429, headers={"Retry-After": when})
        return Reply(json={"data": [1]})

    server = serve(script)
    assert records(fetch(server, retry=RetrySettings(retry_after_max=5, backoff_jitter=0))) == [1]
    assert 0.9 <= gap(server) < 2.5  # the date has whole seconds: the wait is in (1, 2]


def test_retry_after_is_capped(serve: Any) -> None:
    server = serve([Reply(503, headers={"Retry-After": "3600"}), Reply(json={"data": [1]})])
    capped = RetrySettings(retry_after_max=0.3, backoff_jitter=0)
    assert records(fetch(server, retry=capped)) == [1]
    assert 0.25 <= gap(server) < 1.0


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


def test_unparsable_retry_after_falls_back_to_backoff(serve: Any) -> None:
    server = serve([Reply(503, headers={"Retry-After": "soon"}), Reply(json={"data": [1]})])
    assert records(fetch(server)) == [1]
    assert gap(server) < 0.5


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
    started = time.monotonic()
    with client_for(server, token=TOKEN) as client:
        with pytest.raises(SalesApiUnavailableError) as info:
            list(client.iter_pages(START, END))
        assert client.requests_sent == FAST.max_attempts
    assert time.monotonic() - started < 3
    error = info.value
    assert_token_hidden(error)
    assert len(server.requests) == FAST.max_attempts
    assert error.status == 503 and error.retryable
    assert error.url is not None and error.url.startswith(f"{server.url}/orders?start=")
    assert f"after {FAST.max_attempts} attempts" in str(error)
    assert "last: 503 Service Unavailable" in str(error)
    assert str(error).startswith(f"Sales API unavailable: GET {server.url}/orders?")


def test_deadline_stops_retrying_early(serve: Any) -> None:
    server = serve(always(Reply(500)))
    settings = RetrySettings(
        max_attempts=20, backoff_factor=0.2, backoff_jitter=0, total_seconds=0.5
    )
    started = time.monotonic()
    error = fetch_error(server, SalesApiUnavailableError, retry=settings)
    assert time.monotonic() - started < 1.0
    # Waits are 0, 0.4, 0.8, ... s: the third wait would end after the 0.5 s deadline.
    assert len(server.requests) == 3
    assert "retry deadline" in str(error) and "last: 500" in str(error)


def test_deadline_applies_to_retry_after(serve: Any) -> None:
    server = serve(always(Reply(429, headers={"Retry-After": "5"})))
    settings = RetrySettings(retry_after_max=10, total_seconds=1)
    started = time.monotonic()
    error = fetch_error(server, SalesApiUnavailableError, retry=settings)
    assert time.monotonic() - started < 1.0
    assert len(server.requests) == 1
    assert error.status == 429


def test_deadline_is_per_page(serve: Any) -> None:
    slow = [Reply(503), Reply(503)]
    page = Reply(json={"data": [1], "next": "/orders?c=x"})
    last = Reply(json={"data": [2], "next": None})
    server = serve([*slow, page, *slow, last])
    settings = RetrySettings(backoff_factor=0.15, backoff_jitter=0, total_seconds=0.4)
    assert records(fetch(server, retry=settings)) == [1, 2]
    assert len(server.requests) == 6


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    with SalesApiClient(url, retry=FAST, token=TOKEN) as client:
        with pytest.raises(SalesApiUnavailableError) as info:
            list(client.iter_pages(START, END))
        assert client.requests_sent == FAST.max_attempts
    error = info.value
    assert_token_hidden(error)
    assert f"GET {url}/orders?start=" in str(error)
    assert "could not connect" in str(error)
    assert error.status is None and error.retryable


# --------------------------------------------------------------------------------------------
# Auth and client errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_fails_at_once(serve: Any, status: int) -> None:
    server = serve(always(Reply(status, json={"error": "invalid token"})))
    error = fetch_error(server, SalesApiAuthError, token=TOKEN)
    assert len(server.requests) == 1
    assert "refused the token" in str(error) and "invalid token" in str(error)
    assert error.status == status and not error.retryable


def test_missing_token_says_to_set_it(serve: Any) -> None:
    server = serve(always(Reply(401, json={"error": "missing bearer token"})))
    error = fetch_error(server, SalesApiAuthError)
    assert "requires a token" in str(error) and "SALES_API_TOKEN" in str(error)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        (Reply(404, json={"error": "no such route"}), "no such route"),
        (Reply(400, body=b"bad start parameter"), "bad start parameter"),
    ],
)
def test_client_errors_fail_at_once(serve: Any, reply: Reply, text: str) -> None:
    server = serve(always(reply))
    error = fetch_error(server, SalesApiClientError, token=TOKEN)
    assert len(server.requests) == 1
    assert error.status == reply.status
    assert str(reply.status) in str(error) and text in str(error)
    assert not error.retryable


def test_long_error_text_is_truncated(serve: Any) -> None:
    server = serve([Reply(400, body=b"x" * 5000)])
    error = fetch_error(server, SalesApiClientError)
    assert len(str(error)) < 600


def test_token_echoed_by_the_server_is_redacted(serve: Any) -> None:
    def echo(request: RecordedRequest) -> Reply:
        return Reply(400, json={"error": f"bad request, you sent {request.headers}"})

    server = serve(echo)
    error = fetch_error(server, SalesApiClientError, token=TOKEN)
    assert "Bearer ***" in str(error)


def test_token_in_next_link_is_redacted(serve: Any) -> None:
    server = serve(always(Reply(json={"data": [], "next": f"/orders?t={TOKEN}"})))
    fetch_error(server, SalesApiContractError, token=TOKEN)


def test_client_repr_hides_token() -> None:
    client = SalesApiClient("http://127.0.0.1:1", token=TOKEN)
    assert TOKEN not in repr(client)
    client.close()


# --------------------------------------------------------------------------------------------
# Broken bodies
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Reply(body=b'{"data": [1, 2'), "not JSON"),
        (Reply(body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"}), "<html>"),
        (Reply(json=[1, 2, 3]), "got list"),
        (Reply(json={"next": None}), '"data" must be a list, got NoneType'),
        (Reply(json={"data": {"id": 1}, "next": None}), '"data" must be a list, got dict'),
        (Reply(json={"data": [], "next": 2}), '"next" must be a URL or null, got int'),
        (Reply(json={"data": [], "next": ""}), '"next" must be a URL'),
        (Reply(body=b""), "not JSON"),
    ],
)
def test_malformed_body_names_the_page(serve: Any, reply: Reply, problem: str) -> None:
    server = serve([Reply(json={"data": [1], "next": "/orders?cursor=2"}), reply])
    error = fetch_error(server, SalesApiContractError, token=TOKEN)
    assert "page 2" in str(error) and "/orders?cursor=2" in str(error)
    assert problem in str(error)
    assert error.url == f"{server.url}/orders?cursor=2"
    assert len(server.requests) == 2


def test_pages_are_yielded_before_a_later_failure(serve: Any) -> None:
    server = serve([Reply(json={"data": [1], "next": "/orders?cursor=2"}), Reply(404)])
    with client_for(server) as client:
        pages = client.iter_pages(START, END)
        assert next(pages).records == [1]
        with pytest.raises(SalesApiClientError):
            next(pages)


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    with SalesApiClient("http://127.0.0.1:1") as client:
        with pytest.raises(ValueError, match="timezone-aware"):
            client.iter_pages(datetime(2026, 11, 20), END)
        with pytest.raises(ValueError, match="after start"):
            client.iter_pages(END, START)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("  https://api.example.com/  ", "https://api.example.com"),
        ("http://h:80/api/v1/", "http://h:80/api/v1"),
        ("HTTP://H.example", "http://H.example"),
    ],
)
def test_validate_base_url_accepts(url: str, expected: str) -> None:
    assert validate_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "127.0.0.1:8765",
        "ftp://h",
        "http://",
        "http:///path",
        "http://h?x=1",
        "http://h/#top",
        "http://h:99999",
        "http://h /x",
    ],
)
def test_validate_base_url_refuses(url: str) -> None:
    with pytest.raises(ValueError, match=r"SALES_API_URL must be an http\(s\) URL like"):
        validate_base_url(url)


def test_validate_base_url_names_the_variable() -> None:
    with pytest.raises(ValueError, match="MY_URL must"):
        validate_base_url("nope", variable="MY_URL")


def test_validate_base_url_never_echoes_credentials() -> None:
    with pytest.raises(ValueError) as info:
        validate_base_url("http://user:hunter2@h:8765")
    assert "hunter2" not in str(info.value)
    assert "SALES_API_TOKEN" in str(info.value)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetrySettings(max_attempts=0)
    with pytest.raises(ValueError, match="page_size"):
        SalesApiClient("http://127.0.0.1:1", page_size=0)


def test_token_with_whitespace_is_refused_without_echo() -> None:
    with pytest.raises(ValueError) as info:
        SalesApiClient("http://127.0.0.1:1", token="abc def\n")
    assert "abc def" not in str(info.value)
