"""Reading a page: simdjson's count-only read agrees with the full parse on every body."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl_assets.raw import JSON_TYPE_NAMES, json_type_codes
from etl_assets.sources import page as page_module
from etl_assets.sources.page import PageContent, PageProblem, read_page
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


def full_parse(body: bytes, **kwargs: Any) -> PageContent:
    """The page as the full parse (orjson, else Python's json) reads it."""
    response = response_of(body, **kwargs)
    return page_module._read_parsed(response, (response.encoding or "utf-8").lower())


def assert_same_page(body: bytes, **kwargs: Any) -> PageContent | None:
    """read_page reads ``body`` as the full parse does, or refuses it with the same words."""
    try:
        reference = full_parse(body, **kwargs)
    except PageProblem as problem:
        with pytest.raises(PageProblem) as refused:
            read_page(response_of(body, **kwargs))
        assert str(refused.value) == str(problem)
        return None
    content = read_page(response_of(body, **kwargs))
    assert (content.count, content.link) == (reference.count, reference.link)
    assert content.strict_body == reference.strict_body
    assert same_json(content.records, reference.records)
    return content


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elements, st.none() | st.text(max_size=12))
def test_the_count_only_read_agrees_with_the_full_parse(served: list[Any], link: Any) -> None:
    assert_same_page(served_body(served, link))


@given(st.dictionaries(st.sampled_from(["data", "next", "count", "x"]), json_values, max_size=4))
@settings(max_examples=150, deadline=None)
def test_any_top_level_object_is_read_or_refused_as_the_full_parse_does(
    top: dict[str, Any],
) -> None:
    assert_same_page(json.dumps(top).encode())


@pytest.mark.parametrize(
    "body",
    [
        b'{"data":[1],"data":[2,3],"next":null}',  # the last "data" counts
        b'{"data":[123456789012345678901234567890],"next":null}',  # beyond 64 bits
        b'{"data":[-9223372036854775809, 18446744073709551615],"next":null}',
        b'\xef\xbb\xbf{"data":[1],"next":null}',  # a byte order mark
        b'{"data":["\\ud83d\\ude00", "x"],"next":"/orders?cursor=2"}',
        b'{"data":[NaN],"next":null}',
        b'  {"data":[{"a":1,"a":2}],"next":null}\n',
    ],
)
def test_bodies_simdjson_and_orjson_read_differently_give_the_full_parse(body: bytes) -> None:
    assert_same_page(body)


def test_the_link_header_counts_when_the_body_has_no_next() -> None:
    content = assert_same_page(b'{"data":[{"a":1}]}', link="http://api/orders?cursor=2")
    assert content is not None and content.link == "http://api/orders?cursor=2"


def test_a_plain_page_is_counted_without_building_its_records() -> None:
    body = served_body([{"order_id": 1}, {"order_id": 2}], "/next")
    content = read_page(response_of(body))
    assert (content.count, content.link, content.parsed) == (2, "/next", None)
    assert content.strict_body == body
    assert content.records == [{"order_id": 1}, {"order_id": 2}]  # built when asked


def test_other_charsets_take_the_full_parse() -> None:
    body = '{"data":["Zürich"],"next":null}'.encode("latin-1")
    content = read_page(response_of(body, encoding="latin-1"))
    assert (content.records, content.strict_body) == (["Zürich"], None)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>down</html>", "body is not JSON"),
        (b'{"data":{"a":1},"next":null}', '"data" must be a list, got dict'),
        (b'{"data":[],"next":3}', '"next" must be a URL or null, got int'),
        (b"[1,2]", 'expected a JSON object with "data", got list'),
    ],
)
def test_contract_problems_are_named(body: bytes, problem: str) -> None:
    with pytest.raises(PageProblem, match=problem):
        read_page(response_of(body))


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
