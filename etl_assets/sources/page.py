"""One page of the orders listing: its shape and ``next`` link, then its records' texts.

DuckDB is the one reader of page bodies, so its documented behaviour settles every edge case
(README, "The Sales API contract"): a key named twice counts once, its first occurrence; an
integer beyond 64 bits is kept digit for digit; NaN and Infinity are read as numbers; a lone
surrogate escape ("\\ud83d") or any other malformed JSON refuses the page. The body is taken as
UTF-8 (a leading byte order mark dropped); a response in another declared charset is decoded
strictly and re-encoded first.

Each body is read twice by it: on the fetching thread for its shape and ``next`` link
(``PageReader``: the next request waits for that link; one parse of a page with records and a
plain link, a second only for any other page, to name what is wrong), and in a worker thread,
in batches, for its records' texts (``split_bodies``), while the next pages are fetched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import requests

from etl_assets.contract import decode_json

_UTF8 = frozenset({"utf-8", "utf8"})
_INTEGER_TEXT = re.compile(r"-?\d+")
_BOM = b"\xef\xbb\xbf"
# A page as most pages are, in one parse: "next" and the first element of "data", as JSON text
# (NULL where absent). A first element means the body is an object and "data" a non-empty list.
# The body is bound as a BLOB: decode() checks it is UTF-8.
_COMMON_SQL = "SELECT json_extract(decode($1), ['$.next', '$.data[0]'])::VARCHAR[]"
# Any other page (an empty or missing "data", a body that is not an object, a "next" that is
# not a string without escapes): the types of the body, of "data" and of "next", and the link.
_SHAPE_SQL = """
SELECT json_type(body, ['$', '$.data', '$.next']), body->>'$.next' FROM (SELECT decode($1) AS body)
"""
# Every element of "data" as compact JSON text, for a batch of checked bodies.
_SPLIT_SQL = "SELECT json_extract(body, '$.data[*]')::VARCHAR[] AS texts FROM bodies ORDER BY i"
# DuckDB's JSON types, as the messages have always named them (Python's names).
_TYPE_NAMES = {"OBJECT": "dict", "ARRAY": "list", "VARCHAR": "str", "BIGINT": "int",
               "UBIGINT": "int", "DOUBLE": "float", "BOOLEAN": "bool",
               "NULL": "NoneType"}  # fmt: skip


class PageProblem(ValueError):
    """The page breaks the contract; the message says how."""


@dataclass(frozen=True)
class PageContent:
    """A page body as DuckDB reads it (UTF-8 JSON) and its ``next`` link (None on the last
    page)."""

    link: str | None
    body: bytes


@dataclass(frozen=True)
class Page:
    """One page of the orders listing: its records as served, nothing dropped or added."""

    number: int  # 1-based
    url: str
    content: PageContent
    fetched_at: datetime  # UTC
    elapsed_seconds: float  # including retries

    @property
    def body(self) -> bytes:
        return self.content.body

    @cached_property
    def texts(self) -> pa.StringArray:
        """Each record as compact JSON text, split by DuckDB (the pipeline splits pages in
        batches instead, with the same query: ``split_bodies``)."""
        with duckdb.connect() as connection:
            (texts,) = split_bodies(connection, [self.body])
        return texts

    @property
    def records(self) -> list[Any]:
        """The records as Python values, read back from their texts (NaN as float('nan'); a key
        named twice counts once, its first occurrence)."""
        return [decode_json(text) for text in self.texts.to_pylist()]


class PageReader:
    """Checks page bodies on the fetching thread, in a DuckDB session of its own (one thread)."""

    def __init__(self) -> None:
        self._connection: duckdb.DuckDBPyConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def read(self, response: requests.Response) -> PageContent:
        """The body of a 2xx response of the orders listing, and its ``next`` link; raise
        ``PageProblem`` naming what breaks the contract."""
        body = _utf8_body(response)
        link = self._link(body)
        if link is _ABSENT:
            link = response.links.get("next", {}).get("url")
        return PageContent(link=link, body=body)

    def _link(self, body: bytes) -> str | None:
        """The body's ``next`` (``_ABSENT`` if it has none), its shape checked."""
        (((link, first),),) = self._run(_COMMON_SQL, body)
        if first is not None:  # an object whose "data" is a list of at least one element
            if link is None:
                return _ABSENT
            if link == "null":
                return None
            if link.startswith('"') and "\\" not in link:  # a string as written: no escapes
                return link[1:-1]
        return self._checked_link(body)

    def _checked_link(self, body: bytes) -> str | None:
        """``_link`` for any other page: every part of the shape checked, or named."""
        ((top, data, next_type), link) = self._run(_SHAPE_SQL, body)[0]
        if top != "OBJECT":
            got = self._name(body, "$", top)
            raise PageProblem(f'expected a JSON object with "data", got {got}')
        if data != "ARRAY":
            raise PageProblem(f'"data" must be a list, got {self._name(body, "$.data", data)}')
        if next_type not in (None, "NULL", "VARCHAR"):
            got = self._name(body, "$.next", next_type)
            raise PageProblem(f'"next" must be a URL or null, got {got}')
        return _ABSENT if next_type is None else link

    def _run(self, sql: str, body: bytes) -> list[Any]:
        """The rows of ``sql`` on the body; a body that is not UTF-8 JSON is a ``PageProblem``."""
        if self._connection is None:
            self._connection = duckdb.connect(config={"threads": 1})
        try:
            return self._connection.execute(sql, [body]).fetchall()
        except duckdb.ConversionException:
            raise PageProblem("body is not UTF-8 text") from None
        except duckdb.InvalidInputException as error:
            reason = str(error).removeprefix("Invalid Input Error: ").split("  Input:")[0]
            shown = body[:80].decode("utf-8", "replace")
            raise PageProblem(f"body is not JSON (starts with {shown!r}): {reason}") from None

    def _name(self, body: bytes, path: str, duckdb_type: str | None) -> str:
        """The Python type name of the value at ``path``: DuckDB types an integer beyond 64 bits
        as DOUBLE, which Python reads as an int."""
        if duckdb_type == "DOUBLE" and self._connection is not None:
            [(text,)] = self._connection.execute(
                "SELECT json_extract(decode($1), $2)::VARCHAR", [body, path]
            ).fetchall()
            if _INTEGER_TEXT.fullmatch(text):
                return "int"
        return _name(duckdb_type)


_ABSENT: Any = object()  # no "next" key in the body


def _utf8_body(response: requests.Response) -> bytes:
    """The body as UTF-8 without a leading byte order mark; another charset is decoded
    strictly (a byte it cannot decode refuses the page, nothing is replaced)."""
    charset = (response.encoding or "utf-8").lower().replace("_", "-")
    body = response.content
    if charset not in _UTF8:
        try:
            body = body.decode(charset).encode()
        except (LookupError, UnicodeError) as error:
            raise PageProblem(f"body is not text in its charset {charset!r} ({error})") from None
    return body.removeprefix(_BOM)


def _name(duckdb_type: str | None) -> str:
    return "NoneType" if duckdb_type is None else _TYPE_NAMES.get(duckdb_type, duckdb_type)


def split_bodies(
    connection: duckdb.DuckDBPyConnection, bodies: Sequence[bytes]
) -> list[pa.StringArray]:
    """The element texts of each body ``PageReader`` checked, in one query."""
    if not bodies:
        return []
    offsets = np.zeros(len(bodies) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, bodies), dtype=np.int64, count=len(bodies)), out=offsets[1:])
    table = pa.table(
        {
            "i": np.arange(len(bodies), dtype=np.int64),
            "body": pa.LargeStringArray.from_buffers(
                len(bodies), pa.py_buffer(offsets), pa.py_buffer(b"".join(bodies))
            ),
        }
    )
    connection.register("bodies", table)
    try:
        lists = connection.sql(_SPLIT_SQL).to_arrow_table().column("texts").combine_chunks()
    finally:
        connection.unregister("bodies")
    return [lists[k].values for k in range(len(bodies))]
