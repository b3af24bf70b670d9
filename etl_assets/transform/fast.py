"""The vectorized half of cleaning: accept the plainly valid elements in bulk, flag the rest.

DuckDB (in memory, both cores) parses the day's payloads once per function and types every field.
An element is *accepted* here only when each of its fields is in the plain form whose meaning is
beyond doubt: an object whose ``order_id`` is a JSON integer, text fields are JSON strings, a
``quantity`` JSON integer >= 1, a finite ``unit_price`` >= 0, ISO-8601 timestamps of the form
``YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]`` (``timestamp`` inside the day), unique keys, no
``\\u`` escapes and no trailing commas. Everything else (numeric strings, integral floats, other
timestamp spellings, every invalid value) is *flagged* and goes through the per-element
:func:`~etl_assets.transform.orders.parse_version`, so reasons always come from the same code.
The property test in ``test_fast_path.py`` checks that both paths give identical results.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT_FIELDS = ("customer_id", "product", "currency", "status", "region")
FIELDS = ("order_id", *TEXT_FIELDS, "quantity", "unit_price", "timestamp", "updated_at")
# Integers a double holds exactly: a larger unit_price goes through the reference conversion.
_EXACT_DOUBLE = 2**53
# Numeric strings in their plainest spelling (the reference also takes spaces, exponents, ...).
_INTEGER = r"^[+-]?\d{1,18}$"
_DECIMAL = r"^[+-]?\d{1,15}(\.\d{1,15})?$"
_PLAIN_TIMESTAMP = (
    r"^(19|20|21)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?(Z|[+-](0\d|1[0-4]):[0-5]\d)?$"
)


def payload_table(payloads: pd.Series) -> pd.DataFrame:
    """``_row`` (row number) and ``p`` (the payload text) for DuckDB to scan (it reads pandas
    string columns directly, much faster than building an Arrow array first)."""
    return pd.DataFrame({"_row": np.arange(len(payloads), dtype=np.int64), "p": payloads.array})


def plain_json_sql(column: str) -> str:
    """SQL: the text is a JSON object that DuckDB and Python's json read alike (no \\u
    escapes, no trailing commas, which only DuckDB accepts)."""
    return (
        f"(json_valid({column}) AND {column} LIKE '{{%}}' AND NOT contains({column}, '\\u')"
        f" AND NOT regexp_matches({column}, ',\\s*[\\]}}]'))"
    )


_SQL = f"""
WITH parsed AS (
    SELECT _row, p, {plain_json_sql("p")} AS plain
    FROM payloads
), fields AS MATERIALIZED (
    SELECT _row,
        json_type(p, {list(f"$.{name}" for name in FIELDS)!r}) AS t,
        json_extract_string(p, {list(f"$.{name}" for name in FIELDS)!r}) AS v,
        len(json_keys(p)) = len(list_distinct(json_keys(p))) AS unique_keys
    FROM parsed WHERE plain
), scalars AS (
    SELECT _row, unique_keys,
        {", ".join(f"t[{i}] AS t{i}, v[{i}] AS v{i}" for i in range(1, len(FIELDS) + 1))}
    FROM fields
), typed AS MATERIALIZED (
    SELECT *,
        TRY_CAST(v1 AS BIGINT) AS order_id,
        TRY_CAST(v7 AS BIGINT) AS quantity,
        TRY_CAST(v8 AS DOUBLE) AS unit_price,
        CASE WHEN regexp_matches(v9, '{_PLAIN_TIMESTAMP}')
            THEN TRY_CAST(v9 AS TIMESTAMPTZ) END AS ordered_at,
        CASE WHEN regexp_matches(v10, '{_PLAIN_TIMESTAMP}')
            THEN TRY_CAST(v10 AS TIMESTAMPTZ) END AS updated_at
    FROM scalars
)
SELECT _row, order_id, v2 AS customer_id, v3 AS product, v4 AS currency, v5 AS status,
    v6 AS region, quantity, unit_price, ordered_at, updated_at
FROM typed
WHERE unique_keys
    AND (t1 IN ('UBIGINT', 'BIGINT') OR (t1 = 'VARCHAR' AND regexp_matches(v1, '{_INTEGER}')))
    AND order_id IS NOT NULL
    AND {" AND ".join(f"coalesce(t{i}, 'NULL') IN ('NULL', 'VARCHAR')" for i in range(2, 7))}
    AND (coalesce(t7, 'NULL') = 'NULL' OR ((t7 IN ('UBIGINT', 'BIGINT')
        OR (t7 = 'VARCHAR' AND regexp_matches(v7, '{_INTEGER}'))) AND quantity >= 1))
    AND (coalesce(t8, 'NULL') = 'NULL' OR ((t8 IN ('UBIGINT', 'BIGINT', 'DOUBLE')
        OR (t8 = 'VARCHAR' AND regexp_matches(v8, '{_DECIMAL}')))
        AND isfinite(unit_price) AND unit_price >= 0 AND unit_price < {_EXACT_DOUBLE}))
    AND (coalesce(t9, 'NULL') = 'NULL'
        OR (ordered_at IS NOT NULL AND ordered_at >= $start AND ordered_at < $end))
    AND (coalesce(t10, 'NULL') = 'NULL' OR updated_at IS NOT NULL)
"""


_NULLABLE_INT = {pa.int64(): pd.Int64Dtype()}


def _text(column: pa.ChunkedArray) -> np.ndarray:
    """Python strings (None for null), one object per distinct value: dictionary-encoded first."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    values = np.array([*encoded.dictionary.to_pylist(), None], dtype=object)
    return values[encoded.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)]


def _stamps(column: pa.ChunkedArray) -> pd.Series:
    values = column.to_pandas()
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def accepted_versions(raw: pd.DataFrame, day: date) -> tuple[pd.DataFrame, np.ndarray]:
    """Typed versions of the plainly valid elements, and the row numbers of all the others.

    The frame has the version columns of ``parse_version`` plus ``_row`` (row number in
    ``raw``); the flagged rows are returned sorted.
    """
    start = pd.Timestamp(day.isoformat(), tz="UTC")
    end = start + pd.Timedelta(days=1)
    window = {"start": start.to_pydatetime(), "end": end.to_pydatetime()}
    payloads = payload_table(raw["payload"])
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("payloads", payloads)
        table = connection.sql(
            _SQL,
            params=window,
        ).to_arrow_table()
    rows = table.column("_row").to_numpy()
    frame = pd.DataFrame(
        {
            "order_id": table.column("order_id").to_numpy(),
            **{name: _text(table.column(name)) for name in TEXT_FIELDS},
            "quantity": table.column("quantity").to_pandas(types_mapper=_NULLABLE_INT.get),
            "unit_price": table.column("unit_price").to_numpy(zero_copy_only=False),
            "ordered_at": _stamps(table.column("ordered_at")),
            "updated_at": _stamps(table.column("updated_at")),
            "_row": rows,
        }
    )
    flagged = np.setdiff1d(np.arange(len(raw), dtype=np.int64), rows, assume_unique=True)
    return frame, flagged


_JSON_TYPE_NAMES = {"NULL": "null", "BOOLEAN": "boolean", "VARCHAR": "string", "UBIGINT": "number",
                    "BIGINT": "number", "DOUBLE": "number", "HUGEINT": "number",
                    "OBJECT": "object", "ARRAY": "array"}  # fmt: skip
_PROFILE_SQL = f"""
SELECT json_keys(p) AS k, json_type(p, {list(f"$.{name}" for name in FIELDS)!r}) AS t,
    count(*) AS n, list(_row) AS rows
FROM payloads WHERE {plain_json_sql("p")} GROUP BY ALL
"""
_OTHERS_SQL = f"SELECT _row FROM payloads WHERE NOT coalesce({plain_json_sql('p')}, false)"


def field_type_counts(payloads: pd.Series) -> tuple[dict[str, Counter[str]], np.ndarray]:
    """Per top-level field, how often each JSON type was served, for the plain JSON objects
    with only the known fields; and the row numbers of every other payload, for the caller to
    decode one by one.

    Raises ``LookupError`` on a DuckDB JSON type it does not know.
    """
    with duckdb.connect() as connection:
        connection.register("payloads", payload_table(payloads))
        shapes = connection.sql(_PROFILE_SQL).fetchall()
        others = [connection.sql(_OTHERS_SQL).to_arrow_table().column("_row").to_numpy()]
    profile: dict[str, Counter[str]] = defaultdict(Counter)
    for keys, types, count, rows in shapes:
        if len(set(keys)) != len(keys) or not set(keys) <= set(FIELDS):
            others.append(np.asarray(rows, dtype=np.int64))  # duplicate or unknown keys
            continue
        for name, kind in zip(FIELDS, types, strict=True):
            if kind is not None:
                profile[name][_JSON_TYPE_NAMES[kind]] += count  # KeyError is a LookupError
    return profile, np.sort(np.concatenate(others))
