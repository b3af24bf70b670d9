"""Page bodies → element texts: DuckDB's split gives each element's JSON value, in page order."""

from __future__ import annotations

import json
import math
import threading
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl_assets.page_texts import PageTextSplitter
from etl_assets.raw import raw_rows
from etl_assets.sources.page import split_bodies
from etl_assets.transform.values import json_type
from etl_assets_tests.page_support import served_body, served_pages
from etl_assets_tests.reliability.properties import elements
from etl_assets_tests.reliability.support import DAY

AWKWARD = [
    {"region": "Zürich", "product": 'O\'Brien "quoted" \\ back', "note": "tab\there\u0001"},
    {"emoji": "😀", "cjk": "東京", "rtl": "עברית", "slash": "a/b"},
    {
        "big": 2**64 - 1,
        "neg": -(2**63),
        "float": 0.1,
        "tiny": 5e-324,
        "huge": 1.7976931348623157e308,
    },
    {"exp": 1e20, "negzero": -0.0, "int_float": 2.0, "nested": {"a": [1, {"b": None}]}},
    {"order_id": 1, "order_id ": 2, "": "empty key"},
    "text",
    3.5,
    None,
    True,
    [],
    {},
    [1, [2, [3]]],
]


def same_json(a: Any, b: Any) -> bool:
    """Equal JSON values (NaN equal to NaN, as a served NaN must read back as NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def split_one(body: bytes) -> list[str]:
    with duckdb.connect() as connection:
        (texts,) = split_bodies(connection, [body])
    return texts.to_pylist()


def test_duckdb_split_keeps_every_value() -> None:
    body = served_body(AWKWARD)
    texts = split_one(body)
    assert [json.loads(text) for text in texts] == AWKWARD
    assert texts[5] == '"text"' and texts[9] == "[]"
    assert all("\n" not in text and ": " not in text for text in texts)  # compact


def test_integers_beyond_64_bits_are_kept_as_served() -> None:
    body = b'{"data":[{"id":123456789012345678901234567890}],"next":null}'
    assert split_one(body) == ['{"id":123456789012345678901234567890}']


def test_escapes_are_read() -> None:
    body = b'{"data":["caf\\u00e9","\\u0001"],"next":null}'
    assert [json.loads(text) for text in split_one(body)] == ["café", "\x01"]


def test_splitter_keeps_page_order_across_batches_and_hands_each_batch_over() -> None:
    bodies = [served_body([{"page": n, "k": k} for k in range(n % 4)]) for n in range(23)]
    seen: list[tuple[str, int]] = []

    def on_texts(texts: list[pa.StringArray]) -> None:
        seen.append((threading.current_thread().name, sum(len(t) for t in texts)))

    with PageTextSplitter(5, on_texts) as splitter:
        for body in bodies:
            splitter.add(body)
        texts = splitter.texts()
    assert [[json.loads(t) for t in page.to_pylist()] for page in texts] == [
        [{"page": n, "k": k} for k in range(n % 4)] for n in range(23)
    ]
    assert len(seen) == 5 and all(name.startswith("page-texts") for name, _ in seen)
    assert sum(count for _, count in seen) == sum(n % 4 for n in range(23))


def test_large_bodies_close_a_batch_before_its_page_count() -> None:
    bodies = [served_body([{"k": k, "text": "x" * 2000}]) for k in range(9)]
    batches: list[int] = []
    cap = 3 * len(bodies[0])  # three bodies a batch
    with PageTextSplitter(100, lambda texts: batches.append(len(texts)), batch_bytes=cap) as s:
        for body in bodies:
            s.add(body)
        texts = s.texts()
    assert batches == [3, 3, 3]
    assert [json.loads(t.to_pylist()[0])["k"] for t in texts] == list(range(9))


def test_an_error_in_the_worker_reaches_the_caller() -> None:
    def failing(texts: list[pa.StringArray]) -> None:
        raise RuntimeError("profile failed")

    with pytest.raises(RuntimeError, match="profile failed"), PageTextSplitter(2, failing) as s:
        s.add(served_body([1]))
        s.add(served_body([2]))
        s.texts()


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(elements, st.integers(min_value=1, max_value=9))
def test_raw_payloads_read_back_as_the_served_values(served: list[Any], page_size: int) -> None:
    pages = served_pages(served, page_size)
    rows, _stats = raw_rows(pages, DAY, "run-1")
    read_back = [json.loads(text) for text in rows.column("payload").to_pylist()]
    assert len(read_back) == len(served)
    assert all(same_json(a, b) for a, b in zip(read_back, served, strict=True))
    assert rows.column("payload_type").to_pylist() == [json_type(element) for element in served]
