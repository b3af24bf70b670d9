"""The Sales API client follows every pagination form of the contract, and no loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from etl_assets.sources.sales_api import (
    USER_AGENT,
    SalesApiClient,
    SalesApiContractError,
)
from etl_assets_tests.fault_server import (
    FaultServer,
    RecordedRequest,
    Reply,
    always,
    paginated,
)
from etl_assets_tests.sales_api_support import (
    EMPTY,
    END,
    FAST,
    START,
    TOKEN,
    client_for,
    fetch,
    fetch_error,
    records,
)

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


def test_every_page_carries_the_headers_and_a_cookie_the_server_set(serve: Any) -> None:
    cookie = {"Set-Cookie": "lb=node-2; Path=/"}
    server = serve(
        [
            Reply(json={"data": [1], "next": "/orders?cursor=2"}),
            Reply(json={"data": [2], "next": "/orders?cursor=3"}, headers=cookie),
            Reply(json={"data": [3], "next": "/orders?cursor=4 x"}),  # a space to quote
            Reply(json={"data": [4], "next": None}),
        ]
    )
    assert records(fetch(server, token=TOKEN)) == [1, 2, 3, 4]
    assert [r.headers.get("cookie") for r in server.requests] == [
        None,
        None,
        "lb=node-2",
        "lb=node-2",
    ]
    assert server.requests[3].path == "/orders?cursor=4%20x"
    for request in server.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["user-agent"] == USER_AGENT


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
# Environment: proxies are read once per client, and still honoured
# --------------------------------------------------------------------------------------------


def test_http_proxy_from_the_environment_is_used(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = serve(paginated([[1, 2], [3]]))
    proxy = serve(always(Reply(json={"data": ["via proxy"], "next": None})))
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert records(fetch(api)) == ["via proxy"]
    (request,) = proxy.requests  # absolute-form: the proxy is asked for the API's URL
    assert request.path.startswith(f"{api.url}/orders?") and not api.requests


def test_no_proxy_from_the_environment_bypasses_the_proxy(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = serve(paginated([[1, 2], [3]]))
    proxy = serve(always(Reply(json={"data": ["via proxy"], "next": None})))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert records(fetch(api)) == [1, 2, 3]
    assert len(api.requests) == 2 and not proxy.requests
