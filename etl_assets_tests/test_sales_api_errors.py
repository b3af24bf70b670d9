"""The Sales API client fails at once, clearly and without the token, on what is not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from etl_assets.sources.sales_api import (
    RetrySettings,
    SalesApiAuthError,
    SalesApiClient,
    SalesApiClientError,
    SalesApiConfigError,
    SalesApiContractError,
    validate_base_url,
)
from etl_assets_tests.fault_server import (
    RecordedRequest,
    Reply,
    always,
)
from etl_assets_tests.sales_api_support import (
    END,
    START,
    TOKEN,
    client_for,
    fetch_error,
)

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


def test_a_token_an_http_header_cannot_carry_is_refused_without_echo() -> None:
    with pytest.raises(SalesApiConfigError) as info:
        SalesApiClient("http://127.0.0.1:1", token="LeakMe\u20acuro123")
    assert str(info.value) == "the API token must be ASCII text (check SALES_API_TOKEN)"
    assert not info.value.retryable
