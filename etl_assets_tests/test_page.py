"""Reading a page: DuckDB, the one reader of page bodies, decides how a body reads."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl_assets.raw import JSON_TYPE_NAMES, json_type_codes
from etl_assets.sources.page import Page, PageProblem, PageReader
from etl_assets.transform.values import json_type
from etl_assets_tests.page_support import served_body
from etl_assets_tests.reliability.properties import elements, json_values
from etl_assets_tests.test_page_texts import same_json


def response_of(body: bytes, encoding: str = "utf-8", link: str | None = None) -> Any:
    response = requests.Response()
    response.status_code, response.encoding, response._content = 200, encoding, body
    if link is not None:
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response


READER = PageReader()  # one DuckDB session for the module's many examples


def read(body: bytes, **kwargs: Any) -> Page:
    content = READER.read(response_of(body, **kwargs))
    return Page(1, "http://api/orders", content, datetime(2026, 11, 21, tzinfo=UTC), 0.0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elements, st.none() | st.text(max_size=12))
def test_every_served_record_reads_back_as_served(served: list[Any], link: Any) -> None:
    page = read(served_body(served, link))
    assert page.content.link == link
    assert same_json(page.records, served)


@given(st.dictionaries(st.sampled_from(["data", "next", "count", "x"]), json_values, max_size=4))
@settings(max_examples=150, deadline=None)
def test_any_top_level_object_is_read_or_refused_by_name(top: dict[str, Any]) -> None:
    data, link = top.get("data"), top.get("next")
    body = json.dumps(top).encode()
    if not isinstance(data, list):
        with pytest.raises(PageProblem, match=f'"data" must be a list, got {type(data).__name__}'):
            read(body)
    elif link is not None and not isinstance(link, str):
        with pytest.raises(PageProblem, match='"next" must be a URL or null'):
            read(body)
    else:
        page = read(body)
        assert (page.content.link, len(page.texts)) == (link, len(data))
        assert same_json(page.records, data)


@pytest.mark.parametrize(
    ("body", "records", "link"),
    [
        # A key named twice: its first occurrence counts, for "data" and "next" alike.
        (b'{"data":[1],"data":[2,3],"next":"/a","next":"/b"}', [1], "/a"),
        (b'{"data":[123456789012345678901234567890, -9223372036854775809]}',
         [123456789012345678901234567890, -9223372036854775809], None),  # exact, any size
        (b'\xef\xbb\xbf{"data":[1],"next":null}', [1], None),  # a byte order mark is dropped
        (b'{"data":["caf\\u00e9","\\ud83d\\ude00","a\\/b"],"next":null}',
         ["café", "😀", "a/b"], None),
        (b'  {"data":[{"a":1}],"next":null}\n', [{"a": 1}], None),
        (b'{"data":[1,],"next":null}', [1], None),  # a trailing comma is read past
    ],
)  # fmt: skip
def test_the_readers_rules_for_edge_cases(body: bytes, records: list[Any], link: Any) -> None:
    page = read(body)
    assert (page.records, page.content.link) == (records, link)


def test_nan_and_infinity_are_numbers() -> None:
    page = read(b'{"data":[NaN,-Infinity,{"p":Infinity}],"next":null}')
    assert page.texts.to_pylist() == ["NaN", "-Infinity", '{"p":Infinity}']
    assert math.isnan(page.records[0]) and page.records[1:] == [-math.inf, {"p": math.inf}]


def test_a_key_named_twice_inside_a_record_is_kept_as_served() -> None:
    page = read(b'{"data":[{"quantity":1,"quantity":"three"}],"next":null}')
    assert page.texts.to_pylist() == ['{"quantity":1,"quantity":"three"}']
    assert page.records == [{"quantity": 1}]  # read back by the contract's rule: the first


def test_a_record_is_stored_as_duckdbs_compact_json_of_it() -> None:
    """The text raw_records keeps: keys, their order and repeats as served; whitespace dropped,
    escapes decoded, numbers in DuckDB's writing unless beyond a double or 64-bit integer."""
    page = read(
        b'{"data":[{"b": 1.50, "a": 1e2, "c": -0, "d": "caf\\u00e9 x\\/y", "b": 0.10,'
        b' "e": 123456789012345678901234567890, "f": 1E400, "g": 12.0}],"next":null}'
    )
    assert page.texts.to_pylist() == [
        '{"b":1.5,"a":100.0,"c":0,"d":"café x/y","b":0.1,'
        '"e":123456789012345678901234567890,"f":1E400,"g":12.0}'
    ]


def test_the_link_header_counts_when_the_body_has_no_next() -> None:
    page = read(b'{"data":[{"a":1}]}', link="http://api/orders?cursor=2")
    assert page.content.link == "http://api/orders?cursor=2"
    page = read(b'{"data":[],"next":null}', link="http://api/orders?cursor=2")
    assert page.content.link is None  # the body's null ends the listing


@pytest.mark.parametrize(
    ("body", "encoding", "problem"),
    [
        ('{"data":["é"]}'.encode(), "ascii", "body is not text in its charset 'ascii'"),
        (b'{"data":[1],"next":"+2D0-"}', "utf-7", "body is not text in its charset 'utf-7'"),
        (b'{"data":[1]}', "no-such-charset", "body is not text in its charset"),
    ],
)
def test_a_body_its_charset_cannot_decode_is_refused(
    body: bytes, encoding: str, problem: str
) -> None:
    with pytest.raises(PageProblem, match=problem):
        read(body, encoding=encoding)


def test_other_charsets_are_decoded_first() -> None:
    page = read('{"data":["Zürich"],"next":null}'.encode("latin-1"), encoding="latin-1")
    assert page.records == ["Zürich"]
    assert page.body == '{"data":["Zürich"],"next":null}'.encode()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>down</html>", "body is not JSON"),
        (b'{"data":[1]} x', "): Malformed JSON at byte 13 of input: unexpected content after"),
        (b'{"data":["\\ud83d"]}', "no low surrogate in string"),  # a lone surrogate
        (b'{"data":["\xff"]}', "body is not UTF-8 text"),
        (b"", "body is not JSON"),
        (b'{"data":{"a":1},"next":null}', '"data" must be a list, got dict'),
        (b'{"next":null}', '"data" must be a list, got NoneType'),
        (b'{"data":[],"next":3}', '"next" must be a URL or null, got int'),
        (b'{"data":-9223372036854775809}', '"data" must be a list, got int'),  # beyond 64 bits
        (b'{"data":1e2}', '"data" must be a list, got float'),
        (b'{"data":[],"next":{}}', '"next" must be a URL or null, got dict'),
        (b"[1,2]", 'expected a JSON object with "data", got list'),
        (b'\xef\xbb\xbf\xef\xbb\xbf{"data":[1]}', "byte order mark (BOM) is not supported"),
    ],
)
def test_contract_problems_are_named(body: bytes, problem: str) -> None:
    with pytest.raises(PageProblem) as refused:
        read(body)
    assert problem in str(refused.value)


@given(st.lists(json_values, max_size=20), st.integers(min_value=0, max_value=5))
@settings(max_examples=100, deadline=None)
def test_json_type_codes_read_the_first_byte_of_each_text(values: list[Any], cut: int) -> None:
    texts = pa.array([json.dumps(value, separators=(",", ":")) for value in values], pa.string())
    chunks = [texts.slice(0, cut), texts.slice(cut)]  # slices: offsets inside shared buffers
    names = [JSON_TYPE_NAMES[code] for code in json_type_codes(chunks)]
    assert names == [json_type(value) for value in values]


def test_json_type_codes_refuse_a_text_that_is_not_json() -> None:
    with pytest.raises(ValueError, match="does not start a JSON value"):
        json_type_codes([pa.array(["{}", " 1"], pa.string())])
