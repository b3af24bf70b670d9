"""Pages as the client makes them from served bodies, without a server: for property tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests

from etl_assets.sources.page import Page, PageReader

FETCHED_AT = datetime(2026, 11, 21, 1, tzinfo=UTC)
_READER = PageReader()  # one DuckDB session for the many pages of property tests


def served_body(records: list[Any], link: str | None = None) -> bytes:
    """A page body as an API would serve it: UTF-8 JSON, NaN and Infinity as Python writes
    them."""
    return json.dumps({"data": records, "next": link}, ensure_ascii=False).encode()


def page_from_body(number: int, body: bytes) -> Page:
    """The ``Page`` the client yields for this body, read by the client's own ``PageReader``."""
    response = requests.Response()
    response.status_code, response.encoding, response._content = 200, "utf-8", body
    content = _READER.read(response)
    return Page(
        number=number,
        url=f"http://api/orders?page={number}",
        content=content,
        fetched_at=FETCHED_AT,
        elapsed_seconds=0.0,
    )


def served_pages(served: list[Any], page_size: int = 7) -> list[Page]:
    """``served`` cut into pages of ``page_size``, as the client reads them."""
    starts = range(0, max(len(served), 1), page_size)
    return [
        page_from_body(n + 1, served_body(served[i : i + page_size])) for n, i in enumerate(starts)
    ]
