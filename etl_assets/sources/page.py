"""One page of the orders listing: reading its body and checking its shape against the contract.

The records themselves are never looked at here: whatever the API put in ``data`` is handed on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson
import requests
import simdjson

#: Charsets the strict parsers read (UTF-8 only; anything else is decoded by requests).
_UTF8 = frozenset({"utf-8", "utf8"})
_BOM = b"\xef\xbb\xbf"  # simdjson skips it, orjson refuses it: such a body takes orjson's path


class PageProblem(ValueError):
    """The page breaks the contract; the message says how."""


@dataclass(frozen=True)
class PageContent:
    """A page body, read: how many records it has, its ``next`` link (None on the last page),
    and the body itself when a strict parser read it.

    ``records`` are built only when asked for: the pipeline takes the records' texts from
    ``strict_body`` (see ``page_texts``) and never needs them as Python objects.
    """

    link: str | None
    count: int
    #: The body as served (UTF-8 JSON) when a strict parser (no NaN, Infinity or other
    #: charsets) read it; None otherwise.
    strict_body: bytes | None
    parsed: list[Any] | None = field(default=None, repr=False)

    @cached_property
    def records(self) -> list[Any]:
        """The records as parsed (orjson reads an integer beyond 64 bits as a double; the body
        has every number exactly as served)."""
        if self.parsed is not None:
            return self.parsed
        assert self.strict_body is not None
        try:
            records = orjson.loads(self.strict_body)["data"]
        except orjson.JSONDecodeError:  # nesting orjson finds too deep: Python reads it
            records = json.loads(self.strict_body)["data"]
        if len(records) != self.count:
            raise PageProblem(f"the page read {self.count} records first, {len(records)} now")
        return records


@dataclass(frozen=True)
class Page:
    """One page of the orders listing: its records as served, nothing dropped or added."""

    number: int  # 1-based
    url: str
    content: PageContent
    fetched_at: datetime  # UTC
    elapsed_seconds: float  # including retries

    @property
    def records(self) -> list[Any]:
        return self.content.records

    @property
    def record_count(self) -> int:
        return self.content.count

    @property
    def strict_json(self) -> bool:
        """True when a strict parser (UTF-8, no NaN or Infinity) read the page."""
        return self.content.strict_body is not None

    @property
    def body(self) -> bytes | None:
        """The body as served when ``strict_json``, for a caller that wants the records' exact
        text without serializing them again; None otherwise."""
        return self.content.strict_body


def read_page(response: requests.Response) -> PageContent:
    """Decode a 2xx response of the orders listing; raise ``PageProblem`` if it is not one.

    simdjson checks a UTF-8 body and counts its records without building them; a body it
    cannot decide on (an integer beyond 64 bits, a top-level key named twice, a byte order
    mark, a contract problem) goes to orjson, and NaN, other charsets or anything orjson
    refuses to Python's json, which accepts what the API may send.
    """
    charset = (response.encoding or "utf-8").lower().replace("_", "-")
    if charset in _UTF8:
        scanned = _scan(response)
        if scanned is not None:
            return scanned
    return _read_parsed(response, charset)


def _scan(response: requests.Response) -> PageContent | None:
    """The page read by simdjson, or None when the full parse must decide."""
    body = response.content
    if body.startswith(_BOM):
        return None
    try:
        document = simdjson.Parser().parse(body)
    except (ValueError, RuntimeError):  # not JSON, or a number simdjson cannot hold
        return None
    if not isinstance(document, simdjson.Object):
        return None
    keys = list(document.keys())
    data = document.get("data")
    if len(set(keys)) != len(keys) or not isinstance(data, simdjson.Array):
        return None
    link = document.get("next")
    if link is not None and not isinstance(link, str):
        return None
    count = len(data)
    del data, document  # simdjson's proxies, released at once
    if "next" not in keys:
        link = response.links.get("next", {}).get("url")
    return PageContent(link=link, count=count, strict_body=body)


def _read_parsed(response: requests.Response, charset: str) -> PageContent:
    strict_body = None
    problem = None
    try:
        if charset not in _UTF8:
            raise orjson.JSONDecodeError("not UTF-8", "", 0)
        body = orjson.loads(response.content)
        strict_body = response.content
    except orjson.JSONDecodeError:
        try:  # Python's json, not response.json(): requests would pick simplejson if installed
            body = json.loads(response.text)
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
    return PageContent(link=link, count=len(data), strict_body=strict_body, parsed=data)
