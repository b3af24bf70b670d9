"""Hypothesis strategies and the invariant of the cleaning step on arbitrary served elements.

Elements are arbitrary JSON values mixed with order-like objects whose fields are drawn from
valid, borderline and wrong values, with order ids from a small pool so that versions and
duplicates are frequent. They go through ``raw_rows`` exactly as the extract writes them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl_assets.raw import raw_rows
from etl_assets.schema import RAW_RECORDS
from etl_assets.transform import clean_orders
from etl_assets.transform import quality as q
from etl_assets_tests.page_support import served_pages
from etl_assets_tests.reliability.support import DAY

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_INSIDE = ["2026-11-20T00:00:00Z", "2026-11-20T12:30:00+02:00", "2026-11-20 23:59:59.999",
           "2026-11-20T05:00:00-05:00", "2026-11-20t10:00z"]  # fmt: skip
_OUTSIDE = ["2026-11-19T23:59:59.999Z", "2026-11-21T00:00:00Z", "2026-11-20T23:30:00-05:00",
            "2026-02-30T10:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]  # fmt: skip
timestamps = st.sampled_from(_INSIDE + _OUTSIDE) | json_values
numbers = (
    st.integers(min_value=-3, max_value=25)
    | st.sampled_from(["3", " 4 ", "2.0", "1e1", "0.5", "three", "", "-0", "1_000", "NaN"])
    | st.floats(allow_nan=True, allow_infinity=True)
    | json_values
)
fields = {
    "order_id": st.integers(min_value=1, max_value=6)
    | st.sampled_from(["2", "3.0", 2.0, 2.5, True, 2**64, "x"])
    | json_values,
    "customer_id": st.text(max_size=5) | json_values,
    "product": st.sampled_from(["Mug", "O'Brien; DROP TABLE x", ""]) | json_values,
    "quantity": numbers,
    "unit_price": numbers,
    "currency": st.sampled_from(["EUR", "USD"]) | json_values,
    "status": st.sampled_from(["placed", "paid"]) | json_values,
    "region": st.text(max_size=5) | json_values,
    "timestamp": timestamps,
    "updated_at": timestamps,
}
order_like = st.fixed_dictionaries(
    {}, optional={**fields, "extra": json_values}
)  # every field may be absent
elements = st.lists(order_like | json_values, max_size=25)


def raw_of(served: list[Any], page_size: int = 7) -> pd.DataFrame:
    """The raw_records frame the extract would write for these served elements, served as
    page bodies and read by the client's own parser."""
    rows, _stats = raw_rows(served_pages(served, page_size), DAY, "run-1")
    return RAW_RECORDS.from_arrow(rows)


def cleaning_invariant_violations(served: list[Any]) -> list[str]:
    """Everything that must hold for any input; an unexpected exception propagates."""
    result = clean_orders(raw_of(served), DAY)
    counts, clean, rejected = result.counts, result.clean, result.rejected
    problems = []
    if counts.served != len(served):
        problems.append(f"served {counts.served} != {len(served)}")
    if not counts.balanced:
        problems.append(f"counts do not add up: {counts}")
    if counts.clean != len(clean) or counts.rejected != len(rejected):
        problems.append("counts differ from the frames")
    if clean["order_id"].duplicated().any():
        problems.append("an order_id appears twice in clean")
    rules = [
        q.unique_order_ids(clean),
        q.required_fields_present(clean),
        *q.minimum_rules(clean).values(),
        q.ordered_at_inside_day(clean, DAY),
        q.reconciliation(counts),
    ]
    problems += [rule.description for rule in rules if not rule.passed]
    if rejected["reason"].isna().any() or (rejected["reason"] == "").any():
        problems.append("a rejected row has no reason")
    return problems


def check_cleaning_invariant(max_examples: int) -> None:
    """Run the invariant on ``max_examples`` generated inputs; raise on the first violation."""

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(elements)
    def check(served: list[Any]) -> None:
        violations = cleaning_invariant_violations(served)
        assert violations == [], violations

    check()
