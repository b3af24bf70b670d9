"""The order contract: every field of a served order, declared once.

Each field says its JSON name, the JSON types the source is expected to send, how it is typed
(``kind``), its warehouse column, whether an order needs it, whether a missing value is filled
from an earlier version of the same order, and what it means. Everything else is derived from
this declaration: the typing and validation code (``transform/``), rejection reasons, the
``clean_records`` and ``sales_table`` columns (``schema.py``), the drift expectations and the
column lineage the UI shows. No Dagster here.

Adding an optional text field is one line in ``ORDERS`` (plus the demo API and tests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal

Kind = Literal["integer", "number", "text", "timestamp"]
Role = Literal["key", "placed", "version", "data"]

DUCKDB_TYPES: dict[Kind, str] = {
    "integer": "BIGINT",
    "number": "DOUBLE",
    "text": "VARCHAR",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
}


@dataclass(frozen=True)
class OrderField:
    """One field of a served order.

    ``role``: ``key`` identifies the order (required in every element, never filled); ``placed``
    is the instant that puts the order in its UTC day (it must lie inside the partition);
    ``version`` orders the versions of an order (the latest wins, never filled); ``data`` is
    everything else. ``required``: an order still without it once filled is rejected.
    ``fillable``: missing (null or absent) in the winning version, it is taken from the most
    recent earlier version that has it. ``minimum``: the smallest valid value of a number.
    """

    name: str
    kind: Kind
    description: str
    json_types: frozenset[str]
    column: str = ""  # the warehouse column; the JSON name when empty
    role: Role = "data"
    required: bool = False
    fillable: bool = True
    minimum: int | float | None = None

    @property
    def column_name(self) -> str:
        return self.column or self.name

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.kind]


def _field(
    name: str, kind: Kind, description: str, *json_types: str, **options: object
) -> OrderField:
    return OrderField(name, kind, description, frozenset(json_types), **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class OrderContract:
    """The fields of an order, in warehouse column order.

    ``amount_factors``: the required number fields whose product is ``sales_table``'s
    ``amount``; an order whose product is not a finite number (``1e308 × 10``) is rejected, so
    that ``SUM(amount)`` stays the revenue.
    """

    fields: tuple[OrderField, ...]
    amount_factors: tuple[str, ...] = ("quantity", "unit_price")

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"an order contract names a field twice: {names}")
        for role in ("key", "placed", "version"):
            if sum(f.role == role for f in self.fields) != 1:
                raise ValueError(f"an order contract needs exactly one {role} field")
        by_name = {f.name: f for f in self.fields}
        for name in self.amount_factors:
            factor = by_name.get(name)
            if factor is None or factor.kind not in ("integer", "number") or not factor.required:
                raise ValueError(f"an amount factor must be a required number field: {name}")

    @cached_property
    def amount_sql(self) -> str:
        """SQL: ``amount`` from the typed columns (a DOUBLE; NULL when a factor is NULL)."""
        columns = {f.name: f.column_name for f in self.fields}
        return " * ".join(f"CAST({columns[n]} AS DOUBLE)" for n in self.amount_factors)

    def with_field(self, field: OrderField) -> OrderContract:
        """This contract with one more field (after the data fields, before ``placed``)."""
        at = next(i for i, f in enumerate(self.fields) if f.role == "placed")
        return replace(self, fields=(*self.fields[:at], field, *self.fields[at:]))

    def _one(self, role: Role) -> OrderField:
        return next(f for f in self.fields if f.role == role)

    @cached_property
    def key(self) -> OrderField:
        return self._one("key")

    @cached_property
    def placed(self) -> OrderField:
        return self._one("placed")

    @cached_property
    def version(self) -> OrderField:
        return self._one("version")

    @cached_property
    def fillable(self) -> tuple[OrderField, ...]:
        return tuple(f for f in self.fields if f.fillable and f.role not in ("key", "version"))

    @cached_property
    def required_after_fill(self) -> tuple[OrderField, ...]:
        return tuple(f for f in self.fillable if f.required)

    @cached_property
    def expected_json_types(self) -> dict[str, frozenset[str]]:
        """JSON types each source field may arrive as (besides null): others are drift."""
        return {f.name: f.json_types for f in self.fields}


_TEXT = ("string",)
_NUMERIC = ("number", "string")  # numbers may come as numeric strings

ORDERS = OrderContract(
    fields=(
        _field("order_id", "integer", "Order identifier: one row per order and day.", *_NUMERIC,
               role="key", required=True, fillable=False),
        _field("customer_id", "text", "Customer identifier, exactly as served.", *_TEXT,
               "number"),
        _field("product", "text", "Product name, exactly as served.", *_TEXT),
        _field("currency", "text", "ISO currency code of unit_price, exactly as served.", *_TEXT),
        _field("status", "text", "Order status of the winning (latest) version.", *_TEXT),
        _field("region", "text", "Sales region, exactly as served.", *_TEXT),
        _field("quantity", "integer", "Units ordered (≥ 1).", *_NUMERIC, required=True,
               minimum=1),
        _field("unit_price", "number", "Price per unit (≥ 0), in currency.", *_NUMERIC,
               required=True, minimum=0.0),
        _field("timestamp", "timestamp", "When the order was placed (source field timestamp), in "
               "UTC.", *_TEXT, column="ordered_at", role="placed", required=True),
        _field("updated_at", "timestamp", "When the winning version was written; NULL when the "
               "source did not say.", *_TEXT, role="version", fillable=False),
    )
)  # fmt: skip
"""The Sales API's order, as this project reads it."""


def _first_occurrence(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        found.setdefault(key, value)
    return found


def decode_json(text: str | bytes) -> Any:
    """A served JSON text (a record, say) as Python values, read by the contract's rule, which
    is DuckDB's (README, "The Sales API contract"): a key named twice counts once, its first
    occurrence, at any depth. Python's ``json`` alone keeps the last one. Raises ValueError on
    text that is not JSON."""
    return json.loads(text, object_pairs_hook=_first_occurrence)
