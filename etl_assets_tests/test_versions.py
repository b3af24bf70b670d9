"""Which version of an order wins, what counts as a duplicate, and how a winner's gaps are filled
from the same order's earlier versions: directly on DataFrames, no Dagster, no HTTP."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from etl_assets.transform import clean_orders
from etl_assets.transform.sales import sales_rows
from etl_assets_tests.cleaning_support import ABSENT, DAY, clean, order, raw
from etl_assets_tests.reference_cleaner import clean_orders_reference


def test_latest_updated_at_wins_wherever_it_appears() -> None:
    newer = order(1, status="shipped", updated_at="2026-11-20T15:00:00Z")
    older = order(1, status="placed", updated_at="2026-11-20T11:00:00Z")
    result = clean(newer, order(2), older)  # the newer version is served first
    row = result.clean.set_index("order_id").loc[1]
    assert row["status"] == "shipped"
    assert row["updated_at"] == pd.Timestamp("2026-11-20T15:00:00Z")
    assert row["_record_index"] == 0
    assert row["_versions"] == 2
    assert (result.counts.clean, result.counts.superseded, result.counts.duplicates) == (2, 1, 0)


def test_updated_at_compares_instants_across_offsets() -> None:
    # 12:30+02:00 is 10:30Z, earlier than 11:00Z although its wall clock is later.
    a = order(1, status="a", updated_at="2026-11-20T12:30:00+02:00")
    b = order(1, status="b", updated_at="2026-11-20T11:00:00Z")
    assert clean(b, a).clean.loc[0, "status"] == "b"


def test_version_without_updated_at_counts_as_oldest_and_ties_go_to_last_served() -> None:
    undated = order(1, status="undated", updated_at=ABSENT)
    dated = order(1, status="dated")
    assert clean(dated, undated).clean.loc[0, "status"] == "dated"
    first = order(1, status="first")
    second = order(1, status="second")
    assert clean(first, second).clean.loc[0, "status"] == "second"


def test_exact_duplicates_are_counted_not_kept() -> None:
    result = clean(order(1), order(1), order(1), order(2))
    assert len(result.clean) == 2
    assert result.counts.duplicates == 2
    assert result.counts.superseded == 0
    assert result.counts.balanced


def test_duplicates_are_equal_json_values_whatever_their_spelling() -> None:
    same = order(1, gift_wrap=True)
    reordered = dict(reversed(list(same.items())))
    frame = raw(same, reordered, order(1, gift_wrap=False), order(1, gift_wrap=True, note="x"))
    frame.loc[1, "payload"] = json.dumps(reordered, indent=2)  # other key order and spacing
    result = clean_orders(frame, DAY)
    # same + reordered: one value; the unknown fields tell the other two apart
    assert (result.counts.duplicates, result.counts.superseded) == (1, 2)
    assert len(result.clean) == 1 and result.counts.balanced


def _twice(first: Any, second: Any, name: str = "quantity") -> str:
    """An order's payload text with ``name`` written twice: ``first`` then ``second``."""
    text = json.dumps(order(1, **{name: ABSENT}))
    return (
        text[:-1]
        + f", {json.dumps(name)}: {json.dumps(first)}, {json.dumps(name)}: "
        + (json.dumps(second) + "}")
    )


@pytest.mark.parametrize("cleaner", [clean_orders, clean_orders_reference])
def test_a_key_named_twice_inside_a_record_counts_once_its_first_occurrence(cleaner: Any) -> None:
    """The contract's rule (DuckDB's): the first occurrence counts, on the bulk path and on the
    per-element one alike; the raw payload keeps both."""
    frame = raw(order(1), order(2))
    frame.loc[0, "payload"] = _twice(5, "three")
    frame.loc[1, "payload"] = _twice("three", 5).replace('"order_id": 1', '"order_id": 2')
    result = cleaner(frame, DAY)
    assert result.clean["order_id"].tolist() == [1]
    assert result.clean["quantity"].tolist() == [5]
    assert result.rejected["order_id"].tolist() == ["2"]
    assert result.rejected["reason"].tolist() == ["quantity 'three' is not an integer"]
    assert result.rejected.loc[0, "payload"].count('"quantity"') == 2


def test_versions_that_differ_only_past_a_key_s_first_occurrence_are_duplicates() -> None:
    frame = raw(order(1), order(1))
    frame.loc[0, "payload"] = _twice("x", "y", name="note")
    frame.loc[1, "payload"] = _twice("x", "z", name="note")
    result = clean_orders(frame, DAY)
    assert (result.counts.duplicates, result.counts.superseded, len(result.clean)) == (1, 0, 1)


def test_missing_field_is_filled_from_most_recent_earlier_version_of_same_order() -> None:
    oldest = order(1, region="West", updated_at="2026-11-20T09:00:00Z")
    middle = order(1, region="East", updated_at="2026-11-20T10:00:00Z")
    newest = order(1, region=None, status="paid", updated_at="2026-11-20T11:00:00Z")
    result = clean(newest, oldest, middle)
    row = result.clean.iloc[0]
    assert row["region"] == "East"
    assert row["status"] == "paid"
    assert row["_filled_fields"] == "region"


def test_fill_never_copies_from_another_order() -> None:
    # The tutorial's global forward fill would give order 2 the region of order 1.
    result = clean(order(1, region="West"), order(2, region=None), order(3, region=ABSENT))
    regions = result.clean.set_index("order_id")["region"]
    assert regions[1] == "West"
    assert pd.isna(regions[2]) and pd.isna(regions[3])


def test_still_missing_optional_fields_stay_null() -> None:
    result = clean(order(1, customer_id=None, currency=ABSENT))
    row = result.clean.iloc[0]
    assert pd.isna(row["customer_id"]) and pd.isna(row["currency"])
    amount = sales_rows(result.clean, loaded_at=pd.Timestamp.now(tz="UTC"), run_id="r")["amount"]
    assert amount.iloc[0] == 2 * 3.5


@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        ({"unit_price": None}, "unit_price_missing", "unit_price is missing"),
        ({"unit_price": ABSENT}, "unit_price_missing", "unit_price is missing"),
        ({"quantity": None}, "quantity_missing", "quantity is missing"),
        (
            {"quantity": ABSENT, "unit_price": None},
            "quantity_missing",
            "quantity is missing; unit_price is missing",
        ),
    ],
)
def test_an_order_without_quantity_or_unit_price_in_any_version_is_rejected(
    fields: dict[str, Any], code: str, reason: str
) -> None:
    older = order(5, **fields, updated_at="2026-11-20T10:00:00Z")
    winner = order(5, **fields, status="paid", updated_at="2026-11-20T12:00:00Z")
    result = clean(winner, order(6), older)
    assert result.clean["order_id"].tolist() == [6]
    rejected = result.rejected.iloc[0]
    assert (rejected["reason_code"], rejected["reason"]) == (code, reason)
    assert rejected["order_id"] == "5"
    assert json.loads(rejected["payload"]) == winner  # the winning element, as served
    assert rejected["_record_index"] == 0
    assert result.counts.superseded == 1 and result.counts.rejected == 1
    assert result.counts.rejected_by_reason == {code: 1}
    assert result.counts.balanced


def test_an_order_whose_amount_is_not_a_finite_number_is_rejected() -> None:
    huge = order(5, quantity=10, unit_price=1e308)  # 10 × 1e308 is beyond a double
    fits = order(6, quantity=1, unit_price=1e308)
    older = order(7, quantity=3, unit_price=1.5, updated_at="2026-11-20T10:00:00Z")
    filled = order(7, quantity=None, unit_price=1e308, updated_at="2026-11-20T12:00:00Z")
    elements = (huge, fits, older, filled)
    for result in (clean(*elements), clean_orders_reference(raw(*elements), DAY)):
        assert result.clean["order_id"].tolist() == [6]
        rejected = result.rejected.sort_values("order_id")
        assert rejected[["order_id", "reason_code"]].values.tolist() == [
            ["5", "amount_not_finite"],
            ["7", "amount_not_finite"],  # its winner, with the quantity filled
        ]
        assert set(rejected["reason"]) == {"quantity × unit_price is not a finite number"}
        assert result.counts.superseded == 1 and result.counts.balanced
    amount = sales_rows(clean(*elements).clean, loaded_at=pd.Timestamp.now(tz="UTC"), run_id="r")
    assert amount["amount"].tolist() == [1e308]


@pytest.mark.parametrize(("served", "shown"), [("00042", "00042"), (42.0, "42.0")])
def test_an_order_rejected_after_filling_keeps_its_order_id_as_served(
    served: object, shown: str
) -> None:
    result = clean(order(served, unit_price=None), order(6))
    assert result.rejected[["order_id", "reason_code"]].values.tolist() == [
        [shown, "unit_price_missing"]
    ]


def test_unit_price_and_quantity_are_filled_from_an_earlier_version() -> None:
    older = order(5, quantity=4, unit_price=2.25, updated_at="2026-11-20T10:00:00Z")
    newer = order(5, quantity=None, unit_price=ABSENT, updated_at="2026-11-20T12:00:00Z")
    result = clean(newer, older)
    row = result.clean.iloc[0]
    assert (row["quantity"], row["unit_price"]) == (4, 2.25)
    assert row["_filled_fields"] == "quantity,unit_price"
    amount = sales_rows(result.clean, loaded_at=pd.Timestamp.now(tz="UTC"), run_id="r")["amount"]
    assert amount.iloc[0] == 9.0


def test_order_without_timestamp_in_any_version_is_rejected() -> None:
    result = clean(order(5, timestamp=ABSENT), order(5, timestamp=None, status="paid"))
    assert len(result.clean) == 0
    assert result.rejected["reason_code"].tolist() == ["timestamp_missing"]
    assert result.rejected.loc[0, "order_id"] == "5"
    assert result.counts.superseded == 1 and result.counts.balanced


def test_timestamp_filled_from_earlier_version() -> None:
    result = clean(order(5), order(5, timestamp=None, updated_at="2026-11-20T18:00:00Z"))
    assert result.clean.loc[0, "ordered_at"] == pd.Timestamp("2026-11-20T10:00:00Z")
    assert result.clean.loc[0, "_filled_fields"] == "ordered_at"


def test_invalid_newer_version_is_rejected_and_valid_older_one_is_kept() -> None:
    good = order(1, status="placed")
    bad = order(1, status="paid", quantity="three", updated_at="2026-11-20T20:00:00Z")
    result = clean(good, bad)
    assert result.clean.loc[0, "status"] == "placed"
    assert result.rejected.loc[0, "reason_code"] == "quantity_not_integer"
    assert result.counts.balanced
