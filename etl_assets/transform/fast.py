"""The vectorized half of cleaning: accept the plainly valid elements in bulk, flag the rest.

DuckDB (in memory, both cores) parses the day's payloads once per function and types every field.
An element is *accepted* here only when each of its fields is in the plain form whose meaning is
beyond doubt: an object whose ``order_id`` is a JSON integer, text fields are JSON strings, a
``quantity`` JSON integer >= 1, a finite ``unit_price`` >= 0, ISO-8601 timestamps of the form
``YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]`` (``timestamp`` inside the day), no ``\\u``
escapes and no trailing commas. A field named twice counts once, its first occurrence, on both
paths (DuckDB's paths find the first; the per-element check decodes with
``contract.decode_json``). Everything else (numeric strings, integral floats, other
timestamp spellings, every invalid value) is *flagged* and goes through the per-element
:func:`~etl_assets.transform.orders.parse_version`, so reasons always come from the same code.
The property test in ``test_fast_path.py`` checks that both paths give identical results.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack, suppress
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from etl_assets.contract import OrderContract, OrderField
from etl_assets.transform.values import storable

# Integers a double holds exactly: a larger unit_price goes through the reference conversion.
_EXACT_DOUBLE = 2**53
# Numeric strings in their plainest spelling (the per-element check also takes spaces, exponents).
_INTEGER = r"^[+-]?\d{1,18}$"
_DECIMAL = r"^[+-]?\d{1,15}(\.\d{1,15})?$"
_PLAIN_TIMESTAMP = (
    r"^(19|20|21)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?(Z|[+-](0\d|1[0-4]):[0-5]\d)?$"
)
_JSON_INTEGER = "('UBIGINT', 'BIGINT')"
_JSON_NUMBER = "('UBIGINT', 'BIGINT', 'DOUBLE')"


def payload_table(payloads: pd.Series) -> pa.Table:
    """``_row`` (row number) and ``p`` (the payload text) for DuckDB to scan: zero-copy when the
    payloads are Arrow-backed (``string[pyarrow]``), as the warehouse loads them."""
    return pa.table({"_row": np.arange(len(payloads), dtype=np.int64), "p": arrow_text(payloads)})


def arrow_text(payloads: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The payloads as Arrow text. Text that is not valid Unicode (a lone surrogate, which only
    a hand-built frame can hold) is escaped, which keeps its JSON meaning."""
    try:
        return pa.array(payloads.array, pa.large_string())
    except (pa.ArrowException, UnicodeError):
        texts = [storable(text) if isinstance(text, str) else None for text in payloads]
        return pa.array(texts, pa.large_string())


def plain_json_sql(column: str) -> str:
    """SQL: the text is a JSON object that DuckDB and ``contract.decode_json`` read alike (no
    \\u escapes, no trailing commas, which only DuckDB accepts)."""
    return f"(json_valid({column}) AND {_plain_object_text_sql(column)})"


def _plain_object_text_sql(column: str) -> str:
    """SQL: the text of a JSON object without \\u escapes or trailing commas (not a parse)."""
    return (
        f"({column} LIKE '{{%}}' AND NOT contains({column}, '\\u')"
        f" AND NOT regexp_matches({column}, ',\\s*[\\]}}]'))"
    )


def version_columns(contract: OrderContract) -> dict[str, str]:
    """A typed version: ``_row`` (its row among the elements), ``_record_index``, and one column
    per field of the contract, with its warehouse type."""
    return {
        "_row": "BIGINT",
        "_record_index": "BIGINT",
        **{f.column_name: f.duckdb_type for f in contract.fields},
    }


def _typed(field: OrderField, t: str, v: str) -> str:
    """SQL: the field's typed value, from its JSON type ``t`` and text ``v``."""
    if field.kind == "integer":
        return f"TRY_CAST({v} AS BIGINT)"
    if field.kind == "number":
        return f"TRY_CAST({v} AS DOUBLE)"
    if field.kind == "timestamp":
        plain = f"regexp_matches({v}, '{_PLAIN_TIMESTAMP}')"
        return f"CASE WHEN {plain} THEN TRY_CAST({v} AS TIMESTAMPTZ) END"
    return v


def _plain(field: OrderField, t: str, v: str, typed: str) -> str:
    """SQL: the field is absent or null (unless it is the key), or in its plainest valid form."""
    if field.kind == "text":
        valid = f"{t} = 'VARCHAR'"
    elif field.kind == "integer":
        valid = (
            f"({t} IN {_JSON_INTEGER} OR ({t} = 'VARCHAR' AND regexp_matches({v}, '{_INTEGER}')))"
        )
        valid += f" AND {typed} IS NOT NULL"
    elif field.kind == "number":
        valid = (
            f"({t} IN {_JSON_NUMBER} OR ({t} = 'VARCHAR' AND regexp_matches({v}, '{_DECIMAL}')))"
            f" AND isfinite({typed}) AND abs({typed}) < {_EXACT_DOUBLE}"
        )
    else:
        valid = f"{typed} IS NOT NULL"
        if field.role == "placed":
            valid += f" AND {typed} >= $start AND {typed} < $end"
    if field.minimum is not None:
        valid += f" AND {typed} >= {field.minimum!r}"
    if field.role == "key":
        return f"({valid})"
    return f"(coalesce({t}, 'NULL') = 'NULL' OR ({valid}))"


def _accepted_sql(contract: OrderContract, batch: str) -> str:
    """The plainly valid elements of the relation named ``batch`` as typed versions (see the
    module docstring)."""
    paths = [f"$.{f.name}" for f in contract.fields]
    slots = range(1, len(paths) + 1)
    typed = [_typed(f, f"t{i}", f"v{i}") for i, f in zip(slots, contract.fields, strict=True)]
    return f"""
WITH parsed AS (
    SELECT _row, _record_index, p, {plain_json_sql("p")} AS plain
    FROM {batch}
), fields AS MATERIALIZED (
    SELECT _row, _record_index, json_type(p, {paths!r}) AS t,
        json_extract_string(p, {paths!r}) AS v
    FROM parsed WHERE plain
), scalars AS (
    SELECT _row, _record_index, {", ".join(f"t[{i}] AS t{i}, v[{i}] AS v{i}" for i in slots)}
    FROM fields
), typed AS MATERIALIZED (
    SELECT *, {", ".join(f"{sql} AS typed{i}" for i, sql in zip(slots, typed, strict=True))}
    FROM scalars
)
SELECT _row, _record_index,
    {", ".join(f"typed{i} AS {f.column_name}" for i, f in zip(slots, contract.fields, strict=True))}
FROM typed
WHERE {
        " AND ".join(
            _plain(f, f"t{i}", f"v{i}", f"typed{i}")
            for i, f in zip(slots, contract.fields, strict=True)
        )
    }
"""


BATCH_ROWS = 500_000
"""Elements typed per statement: DuckDB's working memory grows with it. Each batch scans the
day's rows in the warehouse again (their order in the file is only roughly that of ``_row``):
at 1M orders, batches of 500,000 typed in 3.9 s against 4.8 s for 200,000, at the same peak."""


def type_plain_elements(
    connection: duckdb.DuckDBPyConnection,
    elements: duckdb.DuckDBPyRelation,
    day: date,
    contract: OrderContract,
) -> tuple[duckdb.DuckDBPyRelation, pa.Table]:
    """The plainly valid ``elements`` as typed versions (``version_columns``), in a temp table
    of ``connection``; and every other element (sorted by ``_row``), for the per-element check.

    ``elements`` (a relation of ``connection``) has ``_row`` (unique), ``_record_index`` and
    ``p`` (payload text). They are typed ``BATCH_ROWS`` values of ``_row`` at a time, so the
    parsed fields DuckDB holds stay bounded however large the day. On a DuckDB error about the
    data no element is accepted and every element is returned; running out of the session's
    memory limit is raised (``duckdb.OutOfMemoryException``): sending a whole day through the
    per-element check would only take ~20x longer and more memory.
    """
    start = pd.Timestamp(day.isoformat(), tz="UTC")
    window = {"start": start.to_pydatetime(), "end": (start + pd.Timedelta(days=1)).to_pydatetime()}
    tag = uuid.uuid4().hex  # names of this call's own: none can be the caller's relations
    table, batch_view, all_elements = f"versions_{tag}", f"batch_{tag}", f"elements_{tag}"
    columns = ", ".join(f"{name} {type_}" for name, type_ in version_columns(contract).items())
    connection.execute(f"CREATE TEMP TABLE {table} ({columns})")
    insert = f"INSERT INTO {table} BY NAME {_accepted_sql(contract, batch_view)}"
    [(low, high)] = elements.aggregate("min(_row), max(_row)").fetchall()
    firsts = range(0) if low is None else range(low, high + 1, BATCH_ROWS)
    try:
        connection.execute("BEGIN TRANSACTION")
        for first in firsts:
            batch = elements.filter(f"_row >= {first} AND _row < {first + BATCH_ROWS}")
            connection.register(batch_view, batch)
            connection.execute(insert, window)
        connection.execute("COMMIT")
    except duckdb.Error as error:
        connection.execute("ROLLBACK")
        if isinstance(error, duckdb.OutOfMemoryException):
            raise
        return connection.table(table), elements.order("_row").to_arrow_table()
    finally:
        _unregister(connection, batch_view)
    accepted = connection.table(table)
    connection.register(all_elements, elements)
    flagged = connection.sql(
        f"SELECT e.* FROM {all_elements} AS e ANTI JOIN {table} USING (_row) ORDER BY _row"
    ).to_arrow_table()
    connection.unregister(all_elements)
    return accepted, flagged


_JSON_TYPE_NAMES = {"NULL": "null", "BOOLEAN": "boolean", "VARCHAR": "string", "UBIGINT": "number",
                    "BIGINT": "number", "DOUBLE": "number", "HUGEINT": "number",
                    "OBJECT": "object", "ARRAY": "array"}  # fmt: skip


def _profile_sql(payloads: str) -> str:
    """Per shape of the payloads of the relation named ``payloads``: see ``field_type_counts``.
    ``json_keys`` is the validity check too (``try``: NULL where the text is not JSON), so each
    payload is parsed twice, not three times."""
    return f"""
WITH read AS (SELECT _row, p, try(json_keys(p)) AS keys FROM {payloads}),
checked AS (
    SELECT _row, p, keys,
        coalesce(keys IS NOT NULL AND {_plain_object_text_sql("p")}, false) AS plain
    FROM read
),
shapes AS (
    SELECT _row, plain, CASE WHEN plain THEN keys END AS k,
        CASE WHEN plain THEN json_type(p, '$.*') END AS t
    FROM checked
)
SELECT plain, any_value(k) AS k, any_value(t) AS t, count(*) AS n,
    list(_row) FILTER (WHERE NOT plain) AS rows
FROM shapes GROUP BY plain, hash(k), hash(t)
"""


def field_type_counts(
    payloads: pd.Series,
    *,
    threads: int | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> tuple[dict[str, Counter[str]], np.ndarray]:
    """Per top-level field, how often each JSON type was served, for the plain JSON objects;
    and the row numbers of every other payload, for the caller to decode one by one.

    One pass: the payloads are grouped by their keys and the JSON types of their values (a
    handful of shapes for a whole day), so no payload is decoded in Python. Shapes are grouped
    by two 64-bit hashes (of the key list and of the type list, both order-sensitive), which
    costs half as much as comparing the lists; two shapes colliding on both is not a practical
    concern. A key named twice counts with its first value (``contract.decode_json``). Raises
    ``LookupError`` on a DuckDB JSON type it does not know. ``threads``: DuckDB's threads
    (default: one per core).
    ``connection``: an open in-memory DuckDB to use (opening one takes ~20 ms), else a new one.
    """
    with ExitStack() as stack:
        if connection is None:
            connection = stack.enter_context(duckdb.connect())
        if threads is not None:
            connection.execute(f"SET threads = {int(threads)}")
        name = f"payloads_{uuid.uuid4().hex}"  # its own: none can be the caller's relations
        connection.register(name, payload_table(payloads))
        stack.callback(_unregister, connection, name)
        shapes = connection.sql(_profile_sql(name)).fetchall()
    profile: dict[str, Counter[str]] = defaultdict(Counter)
    others: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for plain, keys, types, count, rows in shapes:
        if not plain:
            others.append(np.asarray(rows, dtype=np.int64))
            continue
        first: dict[str, str] = {}
        for name, kind in zip(keys, types, strict=True):
            first.setdefault(name, kind)  # a key named twice: its first occurrence counts
        for name, kind in first.items():
            profile[name][_JSON_TYPE_NAMES[kind]] += count  # KeyError is a LookupError
    return profile, np.sort(np.concatenate(others))


def _unregister(connection: duckdb.DuckDBPyConnection, name: str) -> None:
    with suppress(duckdb.Error):
        connection.unregister(name)
