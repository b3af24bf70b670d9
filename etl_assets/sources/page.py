"""One page of the orders listing: reading its body and checking its shape against the contract.

The records themselves are never looked at here: whatever the API put in ``data`` is handed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import requests

#: Charsets orjson reads (it reads UTF-8 only; anything else is decoded by requests).
_UTF8 = frozenset({"utf-8", "utf8"})


@dataclass(frozen=True)
class Page:
    """One page of the orders listing: its records as parsed, nothing dropped or added."""

    number: int  # 1-based
    url: str
    records: list[Any]
    fetched_at: datetime  # UTC
    elapsed_seconds: float  # including retries
    #: True when the strict parser (orjson: UTF-8, no NaN or Infinity) read the page. It reads
    #: an integer beyond 64 bits as a double: ``body`` has every number exactly as served.
    strict_json: bool = False
    #: The body as served (UTF-8 JSON) when ``strict_json``, for a caller that wants the
    #: records' exact text without serializing them again; None otherwise.
    body: bytes | None = None


class PageProblem(ValueError):
    """The page breaks the contract; the message says how."""


@dataclass(frozen=True)
class PageContent:
    """A page body, read: its records, its ``next`` link (None on the last page), and the body
    itself when a strict parser read it."""

    records: list[Any]
    link: str | None
    strict_body: bytes | None


def read_page(response: requests.Response) -> PageContent:
    """Decode a 2xx response of the orders listing; raise ``PageProblem`` if it is not one.

    A strict parser (orjson, UTF-8 only) reads the body first; NaN, integers beyond 64 bits or
    another charset go to Python's json, which accepts what the API may send.
    """
    strict_body = None
    problem = None
    try:
        charset = (response.encoding or "utf-8").lower().replace("_", "-")
        if charset not in _UTF8:
            raise orjson.JSONDecodeError("not UTF-8", "", 0)
        body = orjson.loads(response.content)
        strict_body = response.content
    except orjson.JSONDecodeError:
        try:
            body = response.json()
        except ValueError:
            problem = f"body is not JSON (starts with {response.text[:80]!r})"
    if problem is not None:  # raised here, outside the except: no chained context
        raise PageProblem(problem)

    if not isinstance(body, dict):
        raise PageProblem(f'expected a JSON object with "data", got {type(body).__name__}')
    data = body.get("data")
    if not isinstance(data, list):
        raise PageProblem(f'"data" must be a list, got {type(data).__name__}')
    if "next" in body:
        link = body["next"]
        if link is not None and not isinstance(link, str):
            raise PageProblem(f'"next" must be a URL or null, got {type(link).__name__}')
    else:
        link = response.links.get("next", {}).get("url")
    return PageContent(records=data, link=link, strict_body=strict_body)
