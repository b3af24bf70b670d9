"""The data-quality rules and the daily summary, directly on DataFrames."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from etl_assets.contract import ORDERS, OrderField
from etl_assets.schema import DAILY_SALES_SUMMARY
from etl_assets.transform import quality
from etl_assets.transform.orders import CleaningCounts
from etl_assets.transform.summary import daily_summary

DAY = date(2026, 11, 20)


def clean_frame(**overrides: list) -> pd.DataFrame:
    frame = {
        "order_id": pd.array([1, 2, 3], dtype="Int64"),
        "quantity": pd.array([1, 2, 3], dtype="Int64"),
        "unit_price": [1.0, 0.0, 2.5],
        "ordered_at": pd.to_datetime(
            ["2026-11-20T00:00:00Z", "2026-11-20T12:00:00Z", "2026-11-20T23:59:59Z"], utc=True
        ),
        "order_date": pd.to_datetime(["2026-11-20"] * 3),
    }
    frame.update(overrides)
    return pd.DataFrame(frame)


def test_a_missing_quantity_or_unit_price_fails_the_required_fields_rule() -> None:
    rule = quality.required_fields_present(
        clean_frame(quantity=pd.array([1, None, 3], dtype="Int64"), unit_price=[None, 1.0, None])
    )
    assert not rule.passed
    assert rule.details["missing_by_field"] == {
        "order_id": 0,
        "quantity": 1,
        "unit_price": 2,
        "ordered_at": 0,
        "order_date": 0,
    }


def test_rules_pass_on_good_rows_including_edges() -> None:
    clean = clean_frame()
    for rule in (
        quality.unique_order_ids(clean),
        quality.required_fields_present(clean),
        *quality.minimum_rules(clean).values(),
        quality.ordered_at_inside_day(clean, DAY),
    ):
        assert rule.passed, rule.description


def test_each_rule_fails_and_names_the_rows() -> None:
    dup = quality.unique_order_ids(clean_frame(order_id=pd.array([1, 1, 3], dtype="Int64")))
    assert not dup.passed and dup.details["duplicated_order_ids"] == [1]
    missing = quality.required_fields_present(
        clean_frame(order_id=pd.array([1, None, 3], dtype="Int64"))
    )
    assert not missing.passed and missing.details["missing_by_field"]["order_id"] == 1
    qty = quality.minimum_rules(clean_frame(quantity=pd.array([0, 1, 1], dtype="Int64")))
    assert not qty["quantity_at_least_one"].passed
    assert qty["quantity_at_least_one"].details["order_ids"] == [1]
    assert qty["quantity_at_least_one"].description == "1 row(s) with quantity < 1"
    price = quality.minimum_rules(clean_frame(unit_price=[1.0, -0.01, 2.0]))
    assert not price["unit_price_not_negative"].passed
    assert price["unit_price_not_negative"].details["order_ids"] == [2]
    assert price["unit_price_not_negative"].description == "1 row(s) with unit_price < 0"
    late = quality.ordered_at_inside_day(
        clean_frame(
            ordered_at=pd.to_datetime(
                ["2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", "2026-11-19T23:59:59Z"],
                utc=True,
            )
        ),
        DAY,
    )
    assert not late.passed and late.details["order_ids"] == [2, 3]


def test_reconciliation_and_rejected_share() -> None:
    good = CleaningCounts(served=100, clean=90, rejected=6, duplicates=3, superseded=1)
    assert quality.reconciliation(good).passed
    assert "served 100 = clean 90 + rejected 6" in quality.reconciliation(good).description
    lost = CleaningCounts(served=100, clean=90, rejected=6, duplicates=3, superseded=0)
    assert not quality.reconciliation(lost).passed
    assert not quality.rejected_share_within(good, 0.05).passed
    assert quality.rejected_share_within(good, 0.06).passed


def test_schema_drift_reports_new_missing_and_retyped_fields() -> None:
    payloads = pd.Series(
        [
            json.dumps({"order_id": 1, "quantity": "2", "timestamp": "x", "coupon": "A"}),
            json.dumps({"order_id": 2, "quantity": [1], "timestamp": 5, "region": None}),
            json.dumps("not an object"),
        ]
    )
    profile = quality.source_field_profile(payloads)
    assert profile["quantity"] == {"string": 1, "array": 1}
    drift = quality.schema_drift(profile)
    assert not drift.passed
    assert drift.details["new_fields"] == ["coupon"]
    assert "customer_id" in drift.details["missing_fields"]
    assert drift.details["type_changes"] == {"quantity": ["array"], "timestamp": ["number"]}
    assert "new fields: coupon" in drift.description


def test_field_profile_fed_in_parts_or_in_the_background_equals_the_whole() -> None:
    payloads = pd.Series(
        [
            json.dumps({"order_id": n, "quantity": str(n) if n % 3 else n, "extra": n % 2 == 0})
            for n in range(50)
        ]
        + ['{"a": 1,}', "not json", json.dumps([1, 2])],
        dtype="string[pyarrow]",
    )
    whole = quality.source_field_profile(payloads)
    assert whole["quantity"] == {"string": 33, "number": 17}
    assert whole["extra"] == {"boolean": 50} and "a" not in whole  # "{\"a\": 1,}" is not JSON
    parts = quality.FieldProfile()
    with quality.BackgroundFieldProfile() as background:
        for start in range(0, len(payloads), 7):
            part = payloads.iloc[start : start + 7].reset_index(drop=True)
            parts.add(part)
            background.add(part)
        assert background.result() == whole
    assert parts.result() == whole


def test_schema_drift_passes_on_the_contract() -> None:
    record = {name: "1" for name in ORDERS.expected_json_types}
    drift = quality.schema_drift(quality.source_field_profile(pd.Series([json.dumps(record)])))
    assert drift.passed, drift.description


def test_daily_summary_groups_and_never_mixes_currencies() -> None:
    sales = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4],
            "region": ["North", "North", "North", None],
            "product": ["A", "A", "A", "B"],
            "currency": ["EUR", "EUR", "USD", "EUR"],
            "quantity": pd.array([1, 2, 3, None], dtype="Int64"),
            "amount": [10.0, 20.0, 30.0, None],
        }
    )
    summary = daily_summary(sales, DAY, rejected_rows=7)
    assert list(summary.columns) == DAILY_SALES_SUMMARY.column_names
    rows = {
        (r.region if isinstance(r.region, str) else None, r.product, r.currency): r
        for r in summary.itertuples()
    }
    assert rows[("North", "A", "EUR")].orders == 2 and rows[("North", "A", "EUR")].revenue == 30.0
    assert rows[("North", "A", "USD")].revenue == 30.0
    assert rows[(None, "B", "EUR")].orders == 1
    assert (summary["rejected_rows"] == 7).all()
    assert (summary["order_date"] == pd.Timestamp("2026-11-20")).all()


def test_the_minimum_rules_are_the_contracts_minimums() -> None:
    discount = OrderField("discount", "number", "Discount.", frozenset({"number"}), minimum=0.0)
    weight = OrderField("weight", "number", "Weight in kg.", frozenset({"number"}), minimum=2.5)
    contract = ORDERS.with_field(discount).with_field(weight)
    clean = clean_frame(discount=[0.0, -1.0, None], weight=[2.5, 3.0, 2.4])
    rules = quality.minimum_rules(clean, contract)
    assert list(rules) == [
        "quantity_at_least_one",
        "unit_price_not_negative",
        "discount_not_negative",
        "weight_at_least_2_5",
    ]
    assert rules["discount_not_negative"].details["order_ids"] == [2]
    assert rules["weight_at_least_2_5"].description == "1 row(s) with weight < 2.5"
    assert rules["quantity_at_least_one"].passed and rules["unit_price_not_negative"].passed
