"""A write that spans several partitions (a single-run backfill, the schedule's lookback days):
the figures that describe one partition, counted for each of them.

Dagster records one materialization per partition of such a run, each with the output's
metadata. Row counts, new / gone / changed orders, revenue: those are facts of one day, so each
partition's materialization gets its own (a range total on every day would plot wrong).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

import duckdb
from dagster import OutputContext, TimeWindow, TimeWindowPartitionsDefinition

from etl_assets.warehouse.dagster_internals import (
    RawMetadataValue,
    TableSlice,
    add_partition_metadata,
)
from etl_assets.warehouse.sql_text import (
    PLAIN_IDENTIFIER,
    quote_identifier,
    quote_literal,
    utc_timestamp_literal,
)


@dataclass(frozen=True)
class PartitionBuckets:
    """The partitions of one write, by the time window each covers on ``column``."""

    column: str
    windows: tuple[tuple[str, TimeWindow], ...]  # in order, as Dagster lists the range

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.windows]

    def key_sql(self, value_sql: str) -> str:
        """SQL: the partition key of a row whose partition column is ``value_sql`` (NULL if it
        is in none of them). Windows of one length laid end to end (days in UTC) are indexed
        by arithmetic, so a year-long range costs no more per row than three days."""
        windows = [window for _, window in self.windows]
        lengths = {window.end - window.start for window in windows}
        adjacent = all(a.end == b.start for a, b in pairwise(windows))
        if len(lengths) != 1 or not adjacent:
            branches = " ".join(
                f"WHEN {_inside(value_sql, window)} THEN {quote_literal(key)}"
                for key, window in self.windows
            )
            return f"CASE {branches} END"
        [length] = lengths
        first, last = windows[0], windows[-1]
        step_us = int(length.total_seconds()) * 1_000_000
        start_us = int(first.start.timestamp()) * 1_000_000
        index = f"(epoch_us(CAST({value_sql} AS TIMESTAMPTZ)) - {start_us}) // {step_us}"
        keys = ", ".join(quote_literal(key) for key in self.keys)
        within = _inside(value_sql, TimeWindow(first.start, last.end))
        return f"CASE WHEN {within} THEN [{keys}][{index} + 1] END"

    def row_filter(self, key: str) -> str:
        """SQL condition on a relation with the partition column: the rows of partition
        ``key`` (a range of the column, which the table's zone maps can skip to)."""
        window = dict(self.windows)[key]
        return _inside(quote_identifier(self.column), window)


def _inside(value_sql: str, window: TimeWindow) -> str:
    return (
        f"{value_sql} >= {utc_timestamp_literal(window.start)}"
        f" AND {value_sql} < {utc_timestamp_literal(window.end)}"
    )


def partition_buckets(context: OutputContext, table_slice: TableSlice) -> PartitionBuckets | None:
    """The buckets of a write over several time-window partitions of a plain column; None for a
    single partition, an unpartitioned table or another partitioning (range figures only)."""
    if not context.has_asset_partitions or len(table_slice.partition_dimensions) != 1:
        return None
    [dimension] = table_slice.partition_dimensions
    partitions_def = context.asset_partitions_def
    keys = context.asset_partition_keys
    if (
        len(keys) < 2
        or not isinstance(dimension.partitions, TimeWindow)
        or not isinstance(partitions_def, TimeWindowPartitionsDefinition)
        or not PLAIN_IDENTIFIER.fullmatch(dimension.partition_expr)
    ):
        return None
    windows = tuple((key, partitions_def.time_window_for_partition_key(key)) for key in keys)
    return PartitionBuckets(column=dimension.partition_expr, windows=windows)


def rows_by_partition(
    connection: duckdb.DuckDBPyConnection,
    view: str,
    casts: Mapping[str, str],
    buckets: PartitionBuckets,
) -> dict[str, int]:
    """How many of the written rows fall in each partition."""
    if buckets.column not in casts:
        return {}
    part = buckets.key_sql(casts[buckets.column])
    rows = connection.execute(
        f"SELECT {part}, count(*) FROM {quote_identifier(view)} AS frame GROUP BY ALL"
    ).fetchall()
    return {key: int(count) for key, count in rows if key is not None}


def with_zeros(
    totals: Mapping[str, RawMetadataValue], figures: Mapping[str, RawMetadataValue]
) -> dict[str, RawMetadataValue]:
    """One partition's ``figures``, with 0 for each number of the whole write's ``totals`` it
    lacks (e.g. ``revenue_USD`` on a day without a USD sale): Dagster would show it the total."""
    zeros = {
        name: type(value)(0)
        for name, value in totals.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    return {**zeros, **figures}


def record_per_partition(
    context: OutputContext, figures: Mapping[str, Mapping[str, RawMetadataValue]]
) -> None:
    """Give each partition's materialization its own ``figures[key]`` (they override the
    output's metadata of the same names on that partition)."""
    for key, metadata in figures.items():
        if metadata:
            add_partition_metadata(context, key, metadata)
