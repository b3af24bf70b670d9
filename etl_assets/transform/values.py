"""Parsing one served value into a typed one, or into a human-readable problem.

Every function takes a JSON value as the API served it and either returns the typed value or
raises :class:`Problem` whose message quotes the value, so a rejected row says exactly what was
wrong with it ("quantity 'three' is not an integer").
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
from pandas.errors import OutOfBoundsDatetime

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1

# A numeric string: optional sign, digits with an optional fraction, optional exponent.
# Deliberately stricter than float(): no "nan", "inf", "1_000" or surrounding words.
_NUMERIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# ISO-8601 date and time, optional fraction, optional offset ("Z", "+02:00", "+0200").
_ISO_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


class Problem(ValueError):
    """A served value that cannot become the typed value its field requires."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_storable(text: str) -> bool:
    """Whether the text is valid Unicode (a lone surrogate like "\\ud83d" is valid JSON, not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(text: str) -> str:
    """The text, with any lone surrogate shown as its escape so a VARCHAR can hold it."""
    return text if is_storable(text) else text.encode("utf-8", "backslashreplace").decode()


def describe(value: Any) -> str:
    """The value as a reader would want it quoted in an error: strings in quotes, JSON else."""
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return "'" + storable(shown) + "'"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return storable(text if len(text) <= 60 else text[:57] + "...")


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _as_decimal(field: str, value: Any, kind: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Problem(f"{field}_not_{kind}", f"{field} {describe(value)} is not {_article(kind)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise Problem(f"{field}_not_{kind}", f"{field} {describe(value)} is not {_article(kind)}")
    if isinstance(value, str):
        text = value.strip()
        if not _NUMERIC.fullmatch(text):
            raise Problem(
                f"{field}_not_{kind}", f"{field} {describe(value)} is not {_article(kind)}"
            )
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            raise Problem(
                f"{field}_not_{kind}", f"{field} {describe(value)} is not {_article(kind)}"
            ) from None
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _article(kind: str) -> str:
    return "an integer" if kind == "integer" else "a number"


def parse_integer(field: str, value: Any, *, minimum: int | None = None) -> int:
    """An integer from an integer, an integral number (3.0) or a numeric string ("3")."""
    number = _as_decimal(field, value, "integer")
    if number != number.to_integral_value():
        raise Problem(f"{field}_not_integer", f"{field} {describe(value)} is not an integer")
    integer = int(number)
    if not BIGINT_MIN <= integer <= BIGINT_MAX:
        raise Problem(f"{field}_out_of_range", f"{field} {describe(value)} is out of range")
    if minimum is not None and integer < minimum:
        raise Problem(f"{field}_below_minimum", f"{field} {describe(value)} is less than {minimum}")
    return integer


def parse_number(field: str, value: Any, *, minimum: float | None = None) -> float:
    """A finite float from a number or a numeric string ("12.50")."""
    number = float(_as_decimal(field, value, "number"))
    if not math.isfinite(number):
        raise Problem(f"{field}_out_of_range", f"{field} {describe(value)} is out of range")
    if minimum is not None and number < minimum:
        raise Problem(f"{field}_negative", f"{field} {describe(value)} is negative")
    return number


def parse_timestamp(field: str, value: Any) -> pd.Timestamp:
    """A UTC timestamp from ISO-8601 text; without an offset the time is taken as UTC.

    Kept to the microsecond, the warehouse's precision (DuckDB's TIMESTAMPTZ): digits beyond
    it are dropped (floored), so that versions compare as they are stored."""
    if not isinstance(value, str) or not _ISO_TIMESTAMP.fullmatch(value.strip()):
        raise Problem(f"{field}_not_iso8601", f"{field} {describe(value)} is not ISO-8601")
    text = value.strip()
    try:
        parsed = pd.Timestamp(text)
    except (ValueError, OverflowError):
        raise Problem(
            f"{field}_not_iso8601", f"{field} {describe(value)} is not ISO-8601"
        ) from None
    if parsed is pd.NaT or not isinstance(parsed, pd.Timestamp):
        raise Problem(f"{field}_not_iso8601", f"{field} {describe(value)} is not ISO-8601")
    try:  # frames hold nanoseconds: 1677-09-21 .. 2262-04-11 (a "9999-12-31" would crash later)
        parsed = parsed.as_unit("ns")
    except OutOfBoundsDatetime:
        raise Problem(
            f"{field}_out_of_range", f"{field} {describe(value)} is out of range"
        ) from None
    utc = parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")
    # Drops the nanoseconds, as floor("us") would, at 1/20 of its cost (53 µs a call).
    return utc.replace(nanosecond=0) if utc.nanosecond else utc


def parse_text(field: str, value: Any) -> str:
    """Text exactly as served; a number or boolean becomes its JSON spelling."""
    if isinstance(value, str):
        if not is_storable(value):
            raise Problem(
                f"{field}_not_text",
                f"{field} {describe(value)} holds an invalid Unicode escape (a lone surrogate)",
            )
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise Problem(f"{field}_not_text", f"{field} is a JSON {json_type(value)}, not text")
