"""What a partition replace does to the rows it replaces: new, gone and changed keys.

Counted inside the write transaction, before the old rows are deleted, so the figures describe
exactly this replace (``sales_table``'s ``orders_new`` / ``orders_gone`` / ``orders_changed``).
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
from dagster import OutputContext

from etl_assets.warehouse.dagster_internals import RawMetadataValue, TableSlice
from etl_assets.warehouse.per_partition import PartitionBuckets
from etl_assets.warehouse.sql_text import (
    display_name,
    partition_where_clause,
    qualified_name,
    quote_identifier,
)

CHANGE_KEY = "etl/change_key"
"""Definition metadata: ``"order_id:orders"`` — the column identifying a row within a partition,
and the noun of the figures a partition replace records (``orders_new``, ``orders_gone``,
``orders_changed``; each partition's own when the write spans several)."""


def count_changes(
    context: OutputContext,
    connection: duckdb.DuckDBPyConnection,
    table_slice: TableSlice,
    view: str,
    casts: Mapping[str, str],
    buckets: PartitionBuckets | None = None,
) -> tuple[dict[str, RawMetadataValue], dict[str, dict[str, RawMetadataValue]]]:
    """What a partition replace does to the rows it replaces, by the declared ``etl/change_key``:
    for the whole write, and (``buckets``: a write over several partitions) for each partition.

    ``<noun>_new``: keys not among the replaced rows; ``<noun>_gone``: replaced keys not in the
    new rows; ``<noun>_changed``: keys in both whose business columns (those not starting with
    ``_``) differ. Per partition, a key compares with the same partition's rows only (an order
    moved to another day is gone from one and new in the other). Counted in the write
    transaction, so they describe exactly this replace."""
    declared = (context.definition_metadata or {}).get(CHANGE_KEY)
    declared = getattr(declared, "value", declared)
    if not declared:
        return {}, {}
    key, _, noun = str(declared).partition(":")
    noun = noun or "rows"
    if key not in casts:
        raise ValueError(f"{CHANGE_KEY} names {key!r}, which the DataFrame does not have")
    compared = [c for c in casts if c != key and not c.startswith("_")]
    columns = "".join(f", {quote_identifier(c)}" for c in compared)
    old_part = new_part = "NULL"
    if buckets is not None:
        old_part = buckets.key_sql(quote_identifier(buckets.column))
        new_part = buckets.key_sql(casts[buckets.column])
    old = (
        f"SELECT {quote_identifier(key)} AS __key, {old_part} AS __part{columns}"
        f" FROM {qualified_name(table_slice)}"
    )
    if table_slice.partition_dimensions:
        old += f" WHERE {partition_where_clause(table_slice.partition_dimensions)}"
    new = ", ".join(
        [
            f"{casts[key]} AS __key",
            f"{new_part} AS __part",
            *(f"{casts[c]} AS {quote_identifier(c)}" for c in compared),
        ]
    )
    differs = " OR ".join(
        f"old.{quote_identifier(c)} IS DISTINCT FROM new.{quote_identifier(c)}" for c in compared
    )
    rows = connection.execute(
        f"WITH old AS ({old}), new AS (SELECT {new} FROM {quote_identifier(view)} AS frame)"
        " SELECT coalesce(old.__part, new.__part),"
        " count(*) FILTER (WHERE old.__key IS NULL),"
        " count(*) FILTER (WHERE new.__key IS NULL),"
        " count(*) FILTER (WHERE old.__key IS NOT NULL AND new.__key IS NOT NULL"
        f" AND ({differs or 'FALSE'}))"
        " FROM old FULL JOIN new"
        " ON old.__key = new.__key AND old.__part IS NOT DISTINCT FROM new.__part"
        " GROUP BY ALL"
    ).fetchall()
    names = (f"{noun}_new", f"{noun}_gone", f"{noun}_changed")
    by_part = {part: dict(zip(names, map(int, figures), strict=True)) for part, *figures in rows}
    total = {name: sum(figures[name] for figures in by_part.values()) for name in names}
    context.log.info(
        "%s: %s new, %s gone, %s changed %s",
        display_name(table_slice),
        *total.values(),
        noun,
    )
    if buckets is None:
        return dict(total), {}
    zero = dict.fromkeys(names, 0)
    per_partition: dict[str, dict[str, RawMetadataValue]] = {
        part: {**zero, **by_part.get(part, {})} for part in buckets.keys
    }
    return dict(total), per_partition
