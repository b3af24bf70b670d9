"""Shared pieces of the Sales API client tests: a fast retry policy, a client factory, checks."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from etl_assets.sources.sales_api import Page, RetrySettings, SalesApiClient, SalesApiError
from etl_assets_tests.fault_server import FaultServer, Reply

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
