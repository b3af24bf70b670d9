"""Deterministic synthetic sales orders, dirty the way real APIs are, with exact ground truth.

``generate_day`` returns what the demo API serves for one full UTC day, in serving order, plus
what a correct cleaner must conclude, computed from generation knowledge. A cleaner is correct
when it applies these rules:

- ``order_id`` required, an integer (integral numbers and numeric strings count);
- ``quantity`` an integer >= 1 and ``unit_price`` a number >= 0 (numeric strings count), both
  required: null or absent in every version of an order, the order is rejected;
- ``timestamp`` required, ISO-8601 (no offset means UTC), inside the requested UTC day;
- one row per ``order_id``: the version with the latest ``updated_at`` wins, and a field that is
  null or absent in the winner is taken from the most recent earlier version that has it;
- an invalid element is rejected on its own (invalid elements never share an order_id with a
  valid one, and the newest version of an order is never invalid).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from etl_assets.demo.instants import (
    EPOCH,
    MS_PER_DAY,
    US_PER_MS,
    day_start_us,
    format_instant,
)

ORDER_ID_DAY_STRIDE = 10_000_000
"""order_id = day.toordinal() * ORDER_ID_DAY_STRIDE + n: unique within a day and across days."""

# Dirt rates, as fractions of orders_per_day (per order or per served element, roughly).
DUPLICATE_RATE = 0.03  # extra elements that repeat an earlier served element byte for byte
NEW_VERSION_RATE = 0.05  # orders served again as newer versions (a fifth of them twice)
NULL_FIELD_RATE = 0.02  # orders with an optional field null or absent from the start
PARTIAL_VERSION_RATE = 0.4  # of newer versions: omit an optional field, to be filled from before
OUT_OF_ORDER_RATE = 0.3  # of versioned orders: the newest version is served first
EXTRA_FIELD_RATE = 0.03  # elements carrying an unknown extra field
NUMERIC_STRING_RATE = 0.03  # elements with order_id/quantity/unit_price as strings
OFFSET_TIMESTAMP_RATE = 0.10  # timestamps written with a +02:00/-05:00/+00:00 offset
NAIVE_TIMESTAMP_RATE = 0.05  # timestamps without an offset (meaning UTC)
INVALID_RATE = 0.012  # invalid elements, spread over the kinds below, plus one previous-day record
EDGE_TIMESTAMP_RATE = 0.002  # orders exactly at 00:00:00Z, and as many at 23:59:59.999Z
TRICKY_PRODUCT_RATE = 0.01  # product names with quotes and SQL-looking text
MIN_ORDERS_FOR_INVALID = 50  # smaller days carry no invalid elements

INVALID_KINDS = (
    "quantity_word", "quantity_zero", "negative_price", "bad_timestamp", "missing_order_id",
    "not_an_object", "price_never_served", "quantity_never_served",
)  # fmt: skip
"""Each appears at least once a day (from MIN_ORDERS_FOR_INVALID orders), plus one record whose
timestamp lies on the previous UTC day and which the server serves anyway (a server bug)."""

OPTIONAL_FIELDS = ("customer_id", "region", "currency")
PRODUCTS = (
    "Espresso beans 1kg", "Oat milk 6-pack", "Ceramic mug", "Pour-over kettle", "Grinder",
    "Crème brûlée kit", "Matcha 100g", "Paper filters x100", "Travel tumbler", "Gift card",
)  # fmt: skip
TRICKY_PRODUCTS = (
    "O'Brien's; DROP TABLE x",
    'Robert"); DROP TABLE orders;--',
    'Mug "Large" 50% off',
    "Tea -- 1=1 OR ''='",
)
REGIONS = (
    "Île-de-France", "München", "Bayern", "Zürich", "Kraków", "São Paulo", "Québec",
    "London", "New York", "Tōkyō", "Åland",
)  # fmt: skip
CURRENCIES = ("EUR", "EUR", "EUR", "USD", "USD", "GBP")
SINGLE_VERSION_STATUSES = ("placed", "placed", "paid", "paid", "shipped", "delivered", "cancelled")
EXTRA_FIELDS = (("coupon", "X1"), ("gift_wrap", True), ("channel", "mobile"), ("points", 120))
NON_OBJECTS: tuple[object, ...] = ("ERROR: upstream timeout", [1, "C0042", 3], 42, None)
_ABSENT = object()
BAD_TIMESTAMPS = ("yesterday", "not a timestamp", "{year}-02-30T10:00:00Z", "", None, _ABSENT)


@dataclass
class DayOrders:
    """What the API serves for one full UTC day, and what a correct cleaner must conclude."""

    day: date
    elements: list[object] = field(repr=False)
    """Exactly what is served for the full-day window, in serving order."""
    epoch_us: list[int | None] = field(repr=False)
    """Per element, its timestamp in epoch microseconds for window filtering; None means it is
    served with its day whenever the window contains the day's 00:00Z."""
    valid_order_ids: set[int] = field(repr=False)
    rejected_count: int
    redundant_count: int
    """Exact duplicates plus superseded older versions."""
    expected_amount_total: float
    """Sum of quantity * unit_price over the winning versions (exact to the cent)."""
    latest_status: dict[int, str] = field(repr=False)
    expected_records: dict[int, dict[str, object]] = field(repr=False)
    """Per valid order, the clean row (winning version, filled, typed; datetimes in UTC)."""

    def window_positions(self, start_us: int, end_us: int) -> list[int]:
        """Positions in ``elements`` served for the window [start_us, end_us)."""
        anchored = start_us <= day_start_us(self.day) < end_us
        return [
            i
            for i, key in enumerate(self.epoch_us)
            if (anchored if key is None else start_us <= key < end_us)
        ]


def generate_day(day: date, *, orders_per_day: int, seed: int) -> DayOrders:
    """The orders placed on ``day``: deterministic per (seed, day), independent of other days."""
    if orders_per_day < 0:
        raise ValueError(f"orders_per_day must be >= 0, got {orders_per_day}")
    return _DayBuilder(day, orders_per_day, random.Random(f"{seed}-{day.isoformat()}")).build()


@dataclass
class _State:
    """The upstream truth of one order at one version."""

    order_id: int
    customer_id: str | None
    product: str
    quantity: int
    cents: int
    currency: str | None
    status: str
    region: str | None
    timestamp_us: int
    updated_us: int

    def record(self) -> dict[str, object]:
        return {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "product": self.product,
            "quantity": self.quantity,
            "unit_price": round(self.cents / 100, 2),
            "currency": self.currency,
            "status": self.status,
            "region": self.region,
            "timestamp": EPOCH + timedelta(microseconds=self.timestamp_us),
            "updated_at": EPOCH + timedelta(microseconds=self.updated_us),
        }


_Entry = tuple[float, int, object, "int | None"]


class _DayBuilder:
    def __init__(self, day: date, n: int, rng: random.Random) -> None:
        self.day, self.n, self.rng = day, n, rng
        self.start_us = day_start_us(day)
        # (position, sequence, element, epoch_us); sorting by (position, sequence) gives serving
        # order, so extra elements can be slotted in anywhere without O(n) list inserts.
        self.entries: list[_Entry] = []
        self.valid_entries: list[_Entry] = []
        self.winners: dict[int, _State] = {}
        self.rejected = 0
        self.redundant = 0
        self.price_filled: int | None = None

    def build(self) -> DayOrders:
        rng, n = self.rng, self.n
        offsets_ms = sorted(rng.randrange(MS_PER_DAY) for _ in range(n))
        edges = min(max(1, round(n * EDGE_TIMESTAMP_RATE)), n // 2)
        for k in range(edges):
            offsets_ms[k], offsets_ms[n - 1 - k] = 0, MS_PER_DAY - 1
        invalid: dict[int, str] = {}
        if n >= MIN_ORDERS_FOR_INVALID:
            per_kind = max(1, round(n * INVALID_RATE / len(INVALID_KINDS)))
            kinds = [kind for kind in INVALID_KINDS for _ in range(per_kind)] + ["previous_day"]
            picks = rng.sample(range(edges, n - edges), len(kinds))
            invalid = dict(zip(picks, kinds, strict=True))
        valid = [i for i in range(n) if i not in invalid]
        versioned = set(rng.sample(valid, min(len(valid), round(n * NEW_VERSION_RATE))))
        # One order a day whose newest version comes without its unit_price (null or absent):
        # the price is filled from the earlier version, so the sale still adds up.
        self.price_filled = min(versioned, default=None)
        base_id = self.day.toordinal() * ORDER_ID_DAY_STRIDE
        for i, offset_ms in enumerate(offsets_ms):
            ts_us = self.start_us + offset_ms * US_PER_MS
            if i in invalid:
                self._add_invalid(i, base_id + i, ts_us, invalid[i])
            else:
                versions = (3 if rng.random() < 0.2 else 2) if i in versioned else 1
                self._add_valid(i, base_id + i, ts_us, versions)
        for _ in range(round(n * DUPLICATE_RATE) if self.valid_entries else 0):
            position, _sequence, element, key = rng.choice(self.valid_entries)
            self._serve(rng.uniform(position, n), dict(element), key)  # type: ignore[call-overload]
            self.redundant += 1
        self.entries.sort(key=lambda entry: (entry[0], entry[1]))
        winners = self.winners.values()
        return DayOrders(
            day=self.day,
            elements=[entry[2] for entry in self.entries],
            epoch_us=[entry[3] for entry in self.entries],
            valid_order_ids=set(self.winners),
            rejected_count=self.rejected,
            redundant_count=self.redundant,
            expected_amount_total=sum(s.quantity * s.cents for s in winners) / 100,
            latest_status={s.order_id: s.status for s in winners},
            expected_records={s.order_id: s.record() for s in winners},
        )

    def _serve(self, position: float, element: object, key: int | None) -> None:
        self.entries.append((position, len(self.entries), element, key))

    def _new_state(self, order_id: int, ts_us: int, status: str) -> _State:
        rng = self.rng
        tricky = rng.random() < TRICKY_PRODUCT_RATE
        return _State(
            order_id=order_id,
            customer_id=f"C{rng.randrange(1, 10_000):04d}",
            product=rng.choice(TRICKY_PRODUCTS if tricky else PRODUCTS),
            quantity=rng.randint(1, 5) if rng.random() < 0.9 else rng.randint(6, 20),
            cents=0 if rng.random() < 0.005 else rng.randrange(50, 50_000),
            currency=rng.choice(CURRENCIES),
            status=status,
            region=rng.choice(REGIONS),
            timestamp_us=ts_us,
            updated_us=ts_us + (0 if rng.random() < 0.2 else rng.randrange(600_000) * US_PER_MS),
        )

    def _timestamp_style(self) -> str:
        roll = self.rng.random()
        if roll < OFFSET_TIMESTAMP_RATE:
            return self.rng.choice(("+02:00", "-05:00", "+00:00"))
        return "" if roll < OFFSET_TIMESTAMP_RATE + NAIVE_TIMESTAMP_RATE else "Z"

    def _render(self, state: _State, style: str, omit: str | None = None) -> dict[str, object]:
        """The served JSON object of one version, with cosmetic dirt."""
        rng = self.rng
        element: dict[str, object] = {
            "order_id": state.order_id,
            "customer_id": state.customer_id,
            "product": state.product,
            "quantity": state.quantity,
            "unit_price": round(state.cents / 100, 2),
            "currency": state.currency,
            "status": state.status,
            "region": state.region,
            "timestamp": format_instant(state.timestamp_us, style),
            "updated_at": format_instant(state.updated_us),
        }
        if omit is not None:
            if rng.random() < 0.5:
                del element[omit]
            else:
                element[omit] = None
        if rng.random() < NUMERIC_STRING_RATE:
            price = f"{state.cents // 100}.{state.cents % 100:02d}"  # "12.50", as APIs write it
            for name in rng.sample(("order_id", "quantity", "unit_price"), rng.randint(1, 3)):
                if name != omit:
                    element[name] = price if name == "unit_price" else str(element[name])
        if rng.random() < EXTRA_FIELD_RATE:
            name, value = rng.choice(EXTRA_FIELDS)
            element[name] = value
        return element

    def _add_valid(self, position: int, order_id: int, ts_us: int, versions: int) -> None:
        rng = self.rng
        style = self._timestamp_style()
        status = "placed" if versions > 1 else rng.choice(SINGLE_VERSION_STATUSES)
        state = self._new_state(order_id, ts_us, status)
        if rng.random() < NULL_FIELD_RATE:
            setattr(state, rng.choice(OPTIONAL_FIELDS), None)
        if versions == 3:
            chain = ["paid", rng.choice(("shipped", "refunded"))]
        else:
            chain = [rng.choice(("paid", "cancelled"))][: versions - 1]
        served = [self._render(state, style)]
        for number, next_status in enumerate(chain, start=1):
            changed = {"status"}
            state.status = next_status
            state.updated_us += rng.randrange(60_000, 130_000_000) * US_PER_MS
            if rng.random() < 0.25:
                state.quantity = max(1, state.quantity + rng.choice((-1, 1, 2)))
                changed.add("quantity")
            if rng.random() < 0.15:
                state.region = rng.choice([r for r in REGIONS if r != state.region])
                changed.add("region")
            omit = None
            if rng.random() < PARTIAL_VERSION_RATE:
                # Never omit a field this version changes: then "fill from the most recent
                # earlier version" reproduces the upstream state exactly.
                candidates = [f for f in ("region", "region", *OPTIONAL_FIELDS) if f not in changed]
                omit = rng.choice(candidates)
            if position == self.price_filled and number == len(chain):
                omit = "unit_price"
            served.append(self._render(state, style, omit))
        positions = [float(position), *sorted(rng.uniform(position, self.n) for _ in chain)]
        if chain and rng.random() < OUT_OF_ORDER_RATE:
            positions.reverse()
        for where, element in zip(positions, served, strict=True):
            self._serve(where, element, ts_us)
            self.valid_entries.append(self.entries[-1])
        self.redundant += len(chain)
        self.winners[order_id] = state

    def _add_invalid(self, position: int, order_id: int, ts_us: int, kind: str) -> None:
        rng = self.rng
        state = self._new_state(order_id, ts_us, rng.choice(SINGLE_VERSION_STATUSES))
        element = self._render(state, "Z")
        element["order_id"] = order_id  # numeric-string dirt must not blur the kind
        key: int | None = ts_us
        served: object = element
        if kind == "quantity_word":
            element["quantity"] = rng.choice(("three", "two", "a dozen"))
        elif kind == "quantity_zero":
            element["quantity"] = 0
        elif kind == "negative_price":
            element["unit_price"] = -round(rng.randrange(1, 50_000) / 100, 2)
        elif kind == "bad_timestamp":
            bad = rng.choice(BAD_TIMESTAMPS)
            if bad is _ABSENT:
                del element["timestamp"]
            else:
                element["timestamp"] = (
                    bad.format(year=self.day.year) if isinstance(bad, str) else bad
                )
            key = None
        elif kind in ("price_never_served", "quantity_never_served"):
            name = "unit_price" if kind == "price_never_served" else "quantity"
            if rng.random() < 0.5:
                del element[name]
            else:
                element[name] = None
        elif kind == "missing_order_id":
            del element["order_id"]
        elif kind == "not_an_object":
            # A fresh copy each time, so no two elements share a mutable object.
            served, key = json.loads(json.dumps(rng.choice(NON_OBJECTS))), None
        elif kind == "previous_day":
            earlier_us = self.start_us - rng.randrange(1, 6 * 3_600_000) * US_PER_MS
            element["timestamp"] = format_instant(earlier_us)
            element["updated_at"] = format_instant(earlier_us + rng.randrange(600_000) * US_PER_MS)
            key = None  # served with its own day, whatever the window says
        self._serve(float(position), served, key)
        self.rejected += 1
