"""Each rule an element is checked by, the counts and lineage of a cleaned day, and the rows
that follow from it: directly on DataFrames, no Dagster, no HTTP (versions: test_versions.py)."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd
import pytest

from etl_assets.contract import ORDERS, OrderField
from etl_assets.schema import CLEAN_RECORDS, REJECTED_RECORDS, clean_records_table
from etl_assets.transform import clean_orders, day_window, quality
from etl_assets.transform.orders import clean_elements, combine_days
from etl_assets.transform.sales import sales_rows
from etl_assets_tests.cleaning_support import ABSENT, DAY, clean, only_reason, order, raw
from etl_assets_tests.reference_cleaner import clean_orders_reference


def test_valid_order_is_typed_and_kept() -> None:
    result = clean(order(7))
    row = result.clean.iloc[0]
    assert list(result.clean.columns) == CLEAN_RECORDS.column_names
    assert row["order_id"] == 7
    assert row["quantity"] == 2
    assert row["unit_price"] == 3.5
    assert row["ordered_at"] == pd.Timestamp("2026-11-20T10:00:00Z")
    assert row["order_date"] == pd.Timestamp("2026-11-20")
    assert row["_versions"] == 1
    assert pd.isna(row["_filled_fields"])
    assert result.counts.served == 1 and result.counts.clean == 1 and result.counts.balanced


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("order_id", "42", 42),
        ("order_id", 42.0, 42),
        ("order_id", " 42 ", 42),
        ("quantity", "3", 3),
        ("quantity", 3.0, 3),
        ("quantity", "3.0", 3),
        ("unit_price", "12.50", 12.5),
        ("unit_price", 0, 0.0),
        ("unit_price", "1e2", 100.0),
    ],
)
def test_numeric_coercion(field: str, value: Any, expected: Any) -> None:
    result = clean(order(**{"order_id": 1, field: value}))
    assert result.clean.loc[0, field] == expected


@pytest.mark.parametrize(
    ("element", "code", "reason"),
    [
        (order(quantity="three"), "quantity_not_integer", "quantity 'three' is not an integer"),
        (order(quantity=2.5), "quantity_not_integer", "quantity 2.5 is not an integer"),
        (order(quantity=0), "quantity_below_minimum", "quantity 0 is less than 1"),
        (order(quantity=True), "quantity_not_integer", "quantity true is not an integer"),
        (order(unit_price=-1), "unit_price_negative", "unit_price -1 is negative"),
        (order(unit_price="NaN"), "unit_price_not_number", "unit_price 'NaN' is not a number"),
        (order(unit_price="cheap"), "unit_price_not_number", "unit_price 'cheap' is not a number"),
        (order(order_id=ABSENT), "order_id_missing", "order_id missing"),
        (order(order_id=None), "order_id_missing", "order_id missing"),
        (order(order_id="A-1"), "order_id_not_integer", "order_id 'A-1' is not an integer"),
        (order(order_id=1.5), "order_id_not_integer", "order_id 1.5 is not an integer"),
        (order(order_id=2**63), "order_id_out_of_range", f"order_id {2**63} is out of range"),
        (order(timestamp="yesterday"), "timestamp_not_iso8601", "timestamp 'yesterday' is not"),
        (order(timestamp="2026-11-20"), "timestamp_not_iso8601", "is not ISO-8601"),
        (order(timestamp=1763632800), "timestamp_not_iso8601", "timestamp 1763632800 is not"),
        (
            order(timestamp="2026-11-19T23:59:59.999Z"),
            "timestamp_outside_day",
            "timestamp '2026-11-19T23:59:59.999Z' outside 2026-11-20",
        ),
        (order(timestamp="2026-11-21T00:00:00Z"), "timestamp_outside_day", "outside 2026-11-20"),
        (order(updated_at="soon"), "updated_at_not_iso8601", "updated_at 'soon' is not ISO-8601"),
        (order(region={"a": 1}), "region_not_text", "region is a JSON object, not text"),
        ("just text", "not_an_object", "element is a JSON string, not an object"),
        ([1, 2], "not_an_object", "element is a JSON array, not an object"),
        (None, "not_an_object", "element is a JSON null, not an object"),
        (17, "not_an_object", "element is a JSON number, not an object"),
    ],
)
def test_every_rejection_reason(element: Any, code: str, reason: str) -> None:
    result = clean(element)
    assert len(result.clean) == 0
    rejected = result.rejected.iloc[0]
    assert rejected["reason_code"] == code
    assert reason in rejected["reason"]
    assert json.loads(rejected["payload"]) == element
    assert result.counts.rejected_by_reason == {code: 1}
    assert result.counts.balanced


def test_all_problems_of_an_element_are_listed() -> None:
    reason = only_reason(order(quantity="three", unit_price=-2))
    assert reason == "quantity 'three' is not an integer; unit_price -2 is negative"


@pytest.mark.parametrize(
    ("served", "utc"),
    [
        ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"),
        ("2026-11-20T10:00:00", "2026-11-20T10:00:00Z"),  # no offset means UTC
        ("2026-11-20T12:00:00+02:00", "2026-11-20T10:00:00Z"),
        ("2026-11-20T05:00:00-05:00", "2026-11-20T10:00:00Z"),
        ("2026-11-20 10:00:00.123456Z", "2026-11-20T10:00:00.123456Z"),
        ("2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z"),  # the window's first instant
        ("2026-11-20T23:59:59.999999Z", "2026-11-20T23:59:59.999999Z"),
        ("2026-11-21T01:00:00+02:00", "2026-11-20T23:00:00Z"),  # other local day, same UTC day
    ],
)
def test_time_zones_and_window_edges(served: str, utc: str) -> None:
    result = clean(order(timestamp=served))
    assert result.clean.loc[0, "ordered_at"] == pd.Timestamp(utc)
    assert result.clean.loc[0, "order_date"] == pd.Timestamp("2026-11-20")


def test_offset_moving_order_to_previous_utc_day_is_rejected() -> None:
    reason = only_reason(order(timestamp="2026-11-20T01:00:00+02:00"))
    assert reason == "timestamp '2026-11-20T01:00:00+02:00' outside 2026-11-20"


def test_text_is_kept_exactly_and_numbers_become_text() -> None:
    tricky = 'Robert\'); DROP TABLE sales_table;-- «日本» "q" \u00e9\u0301'
    result = clean(order(product=tricky, customer_id=1234, region=""))
    row = result.clean.iloc[0]
    assert row["product"] == tricky
    assert row["customer_id"] == "1234"
    assert row["region"] == ""


def test_unknown_fields_do_not_matter_to_clean_but_stay_in_rejected_payload() -> None:
    result = clean(order(1, coupon="X1"), order(2, quantity="x", coupon="Y"))
    assert "coupon" not in result.clean.columns
    assert json.loads(result.rejected.loc[0, "payload"])["coupon"] == "Y"


def test_empty_input_gives_typed_empty_frames() -> None:
    result = clean_orders(raw(), DAY)
    assert result.clean.empty and result.rejected.empty
    assert list(result.clean.columns) == CLEAN_RECORDS.column_names
    assert list(result.rejected.columns) == REJECTED_RECORDS.column_names
    assert str(result.clean["ordered_at"].dtype) == "datetime64[ns, UTC]"
    assert result.counts.served == 0 and result.counts.balanced


def test_payload_that_is_not_json_is_rejected() -> None:
    frame = raw(order(1))
    frame.loc[0, "payload"] = "{not json"
    result = clean_orders(frame, DAY)
    assert result.rejected.loc[0, "reason_code"] == "payload_not_json"


def test_lineage_of_rejected_rows_points_back_to_raw() -> None:
    result = clean(order(1), order(2), order(3), order(4), "bad")
    row = result.rejected.iloc[0]
    assert (row["_record_index"], row["_page"], row["_position"]) == (4, 2, 1)
    assert row["partition_date"] == pd.Timestamp("2026-11-20")


def test_counts_balance_on_a_mixed_day() -> None:
    elements = [
        order(1),
        order(1),
        order(1, status="paid", updated_at="2026-11-20T12:00:00Z"),
        order(2, quantity="three"),
        "noise",
        order(3, timestamp=None),
        order(4, timestamp="2026-11-19T10:00:00Z"),
        order(5, region=None),
    ]
    counts = clean(*elements).counts
    assert counts.served == 8
    assert (counts.clean, counts.rejected, counts.duplicates, counts.superseded) == (2, 4, 1, 1)
    assert counts.rejected_share == 0.5


@pytest.mark.parametrize("name", ["elements", "versions", "batch"])
def test_cleaning_in_a_session_whose_tables_have_the_names_it_works_with(name: str) -> None:
    """clean_elements registers and creates what it needs under names of its own: a table of
    the caller's called ``elements`` or ``versions`` (say) is read as given and left alone."""
    elements = [order(1), order(1, status="paid", updated_at="2026-11-20T12:00:00Z"), "noise"]
    frame = raw(*elements).rename(columns={"payload": "p"}).assign(_row=range(len(elements)))
    expected = clean_orders(raw(*elements), DAY)
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("served", frame)
        connection.execute(f"CREATE TABLE {name} AS SELECT * FROM served")
        result = combine_days([clean_elements(connection, connection.table(name), DAY)])
        [(rows,)] = connection.sql(f"SELECT count(*) FROM {name}").fetchall()
    assert rows == len(elements)
    assert result.counts == expected.counts
    pd.testing.assert_frame_equal(result.clean, expected.clean)
    pd.testing.assert_frame_equal(result.rejected, expected.rejected)


def test_sales_rows_compute_amount_and_load_columns() -> None:
    result = clean(order(1, quantity=3, unit_price="19.99"), order(2, quantity=1, unit_price=0))
    loaded_at = pd.Timestamp("2026-11-21T01:00:00Z")
    rows = sales_rows(result.clean, loaded_at=loaded_at, run_id="run-1")
    assert rows["amount"].tolist() == [3 * 19.99, 0.0]
    assert (rows["_run_id"] == "run-1").all()
    assert (rows["_loaded_at"] == loaded_at).all()


def test_day_window_is_half_open_utc() -> None:
    start, end = day_window(DAY)
    assert start == pd.Timestamp("2026-11-20T00:00:00Z")
    assert end == pd.Timestamp("2026-11-21T00:00:00Z")


def test_lone_surrogate_text_is_rejected_with_a_storable_reason() -> None:
    # "\ud83d" is a valid JSON escape but not valid Unicode: no VARCHAR can hold it.
    result = clean(order(1, product="Mug \ud83d"), order(2))
    assert result.clean["order_id"].tolist() == [2]
    rejected = result.rejected.iloc[0]
    assert rejected["reason_code"] == "product_not_text"
    assert rejected["reason"] == (
        "product 'Mug \\ud83d' holds an invalid Unicode escape (a lone surrogate)"
    )
    rejected["reason"].encode("utf-8")  # storable


def test_an_optional_text_field_is_one_declaration_in_the_contract() -> None:
    channel = OrderField("channel", "text", "Sales channel.", frozenset({"string"}))
    contract = ORDERS.with_field(channel)
    elements = [
        order(1, channel="mobile", updated_at="2026-11-20T10:00:00Z"),
        order(1, status="paid", updated_at="2026-11-20T12:00:00Z"),  # no channel: filled
        order(2, channel=7),  # a number is kept as its JSON spelling, like every text field
        order(3, channel={"web": True}),
        order(4),
    ]
    result = clean_orders(raw(*elements), DAY, contract)
    assert list(result.clean.columns) == clean_records_table(contract).column_names
    assert "channel" in result.clean.columns and "channel" not in CLEAN_RECORDS.column_names
    rows = result.clean.set_index("order_id")
    assert rows.loc[1, "channel"] == "mobile" and rows.loc[1, "_filled_fields"] == "channel"
    assert rows.loc[2, "channel"] == "7"
    assert pd.isna(rows.loc[4, "channel"])
    assert result.rejected["reason"].tolist() == ["channel is a JSON object, not text"]
    reference = clean_orders_reference(raw(*elements), DAY, contract)
    pd.testing.assert_frame_equal(
        result.clean.sort_values("order_id", ignore_index=True), reference.clean
    )
    assert result.counts == reference.counts
    served = {"channel": {"string": 1}, **{n: {"string": 1} for n in ORDERS.expected_json_types}}
    assert not quality.schema_drift(served).passed  # a new field for the stock contract
    assert "channel" not in quality.schema_drift(served, contract).description
