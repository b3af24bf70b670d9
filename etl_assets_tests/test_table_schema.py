"""The table a write goes into (``warehouse/table_schema.py``): created and evolved by name from
the declared column schema, typed, compressed and NOT NULL as declared; real DuckDB files, real
``dg.materialize`` runs."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from etl_assets.warehouse import WarehouseWriteError
from etl_assets_tests.warehouse_support import (
    DAILY,
    RAW_SCHEMA,
    Source,
    orders,
    query,
    raw_asset,
    run,
    types_of,
)


def test_columns_match_by_name_and_new_columns_are_added(db: Path) -> None:
    source: Source = {}

    @dg.asset(
        partitions_def=dg.StaticPartitionsDefinition(["north", "o'brien"]),
        metadata={"schema": "staging", "partition_expr": "region"},
    )
    def regional() -> pd.DataFrame:
        return source["frame"]

    source["frame"] = pd.DataFrame({"region": ["north"], "a": [1], "b": ["x"]})
    run([regional], db, "north")
    source["frame"] = pd.DataFrame({"c": [2.5], "b": ["y"], "a": [2], "region": ["o'brien"]})
    run([regional], db, "o'brien")
    run([regional], db, "o'brien")

    assert query(db, "SELECT region, a, b, c FROM staging.regional ORDER BY a") == [
        ("north", 1, "x", None),
        ("o'brien", 2, "y", 2.5),
    ]
    expected = {"region": "VARCHAR", "a": "BIGINT", "b": "VARCHAR", "c": "DOUBLE"}
    assert types_of(db, "staging.regional") == expected


def test_empty_first_frame_creates_typed_table_and_loads_empty(db: Path) -> None:
    source: Source = {"frame": pd.DataFrame(columns=[c.name for c in RAW_SCHEMA.columns])}
    raw = raw_asset(source)
    loaded: dict[str, pd.DataFrame] = {}

    @dg.asset(partitions_def=DAILY, metadata={"schema": "staging", "partition_expr": "d"})
    def clean(raw_records: pd.DataFrame) -> pd.DataFrame:
        loaded["frame"] = raw_records
        return pd.DataFrame(
            {"d": pd.Series([], dtype="datetime64[us]"), "note": pd.Series([], dtype=object)}
        )

    run([raw, clean], db, "2026-11-20")

    assert types_of(db, "raw.raw_records") == {c.name: c.type for c in RAW_SCHEMA.columns}
    assert list(loaded["frame"].columns) == [c.name for c in RAW_SCHEMA.columns]
    assert loaded["frame"].empty
    assert types_of(db, "staging.clean") == {"d": "TIMESTAMP", "note": "VARCHAR"}


def compressed_notes_asset(source: Source, compression: str) -> dg.AssetsDefinition:
    tagged = {"duckdb/compression": compression}
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("n", "BIGINT"),
            dg.TableColumn("note", "VARCHAR", tags=tagged),
            dg.TableColumn("later", "VARCHAR", tags=tagged),
        ]
    )

    @dg.asset(metadata={"schema": "mart", "dagster/column_schema": schema})
    def notes() -> pd.DataFrame:
        return source["frame"]

    return notes


def compressions_of(db: Path, table: str) -> dict[str, set[str]]:
    rows = query(db, f"SELECT column_name, compression FROM pragma_storage_info('{table}')")
    found: dict[str, set[str]] = {}
    for column, compression in rows:
        found.setdefault(column, set()).add(compression)
    return found


def test_a_compression_tag_creates_the_column_with_that_compression(db: Path) -> None:
    notes = [f"note number {n} with some text to compress" for n in range(5_000)]
    source: Source = {"frame": pd.DataFrame({"n": range(5_000), "note": notes})}
    run([compressed_notes_asset(source, "zstd")], db)
    source["frame"] = source["frame"].assign(later=notes)  # a column added later: tagged too
    run([compressed_notes_asset(source, "zstd")], db)

    found = compressions_of(db, "mart.notes")
    assert found["note"] - {"Constant"} == {"ZSTD"}
    assert found["later"] - {"Constant"} == {"ZSTD"}
    assert "ZSTD" not in found["n"]
    assert query(db, "SELECT count(*), max(later) FROM mart.notes") == [(5_000, max(notes))]


def test_a_malformed_compression_tag_is_refused_by_name(db: Path) -> None:
    source: Source = {"frame": pd.DataFrame({"n": [1], "note": ["x"]})}
    with pytest.raises(WarehouseWriteError, match=r"note: duckdb/compression must name a DuckDB"):
        run([compressed_notes_asset(source, "zstd; DROP TABLE x")], db)
    assert query(db, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'notes'") == [(0,)]


def test_inferred_types_avoid_null_and_enum(db: Path) -> None:
    source: Source = {}

    @dg.asset(metadata={"schema": "mart"})
    def labels() -> pd.DataFrame:
        return source["frame"]

    source["frame"] = pd.DataFrame({"note": [None], "kind": pd.Categorical(["a"])})
    run([labels], db)
    source["frame"] = pd.DataFrame({"note": ["later text"], "kind": pd.Categorical(["b"])})
    run([labels], db)
    assert types_of(db, "mart.labels") == {"note": "VARCHAR", "kind": "VARCHAR"}
    assert query(db, "SELECT note, kind FROM mart.labels") == [("later text", "b")]


def _required(schema: dg.TableSchema, *names: str) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                c.type,
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=c.name not in names),
            )
            for c in schema.columns
        ]
    )


def test_declared_not_null_columns_are_created_not_null_and_refuse_nulls(db: Path) -> None:
    source: Source = {"frame": orders("2026-11-20", [1, 2])}

    @dg.asset(
        partitions_def=DAILY,
        metadata={
            "schema": "raw",
            "partition_expr": "partition_date",
            "dagster/column_schema": _required(RAW_SCHEMA, "order_id", "amount"),
        },
    )
    def raw_records() -> pd.DataFrame:
        return source["frame"]

    run([raw_records], db, "2026-11-20")
    nullable = query(
        db,
        "SELECT column_name, is_nullable FROM information_schema.columns"
        " WHERE table_name = 'raw_records' ORDER BY ordinal_position",
    )
    assert nullable == [
        ("partition_date", "YES"),
        ("order_id", "NO"),
        ("amount", "NO"),
        ("created_at", "YES"),
    ]
    source["frame"] = orders("2026-11-20", [3]).assign(amount=[None])
    with pytest.raises(WarehouseWriteError, match=r"keeps its previous rows: .*NOT NULL.*amount"):
        run([raw_records], db, "2026-11-20")
    assert query(db, "SELECT order_id FROM raw.raw_records ORDER BY 1") == [(1,), (2,)]


def test_a_column_declared_required_later_becomes_not_null_once_it_holds_no_null(
    db: Path,
) -> None:
    source: Source = {"frame": orders("2026-11-20", [1]).assign(amount=[None])}
    schema = {"value": RAW_SCHEMA}

    @dg.asset(
        partitions_def=DAILY,
        metadata={"schema": "raw", "partition_expr": "partition_date"},
    )
    def raw_records(context: dg.AssetExecutionContext) -> dg.Output:
        return dg.Output(source["frame"])

    def with_schema(table_schema: dg.TableSchema) -> dg.AssetsDefinition:
        return raw_records.with_attributes(
            metadata_by_key={
                raw_records.key: {
                    "schema": "raw",
                    "partition_expr": "partition_date",
                    "dagster/column_schema": table_schema,
                }
            }
        )

    def shown_nullable(result: dg.ExecuteInProcessResult) -> bool:
        """Whether the column schema the UI shows for this write lets ``amount`` be NULL."""
        [event] = result.get_asset_materialization_events()
        metadata = event.event_specific_data.materialization.metadata
        [amount] = [
            c for c in metadata["dagster/column_schema"].value.columns if c.name == "amount"
        ]
        return amount.constraints.nullable

    run([with_schema(schema["value"])], db, "2026-11-20")  # nullable, one NULL amount
    required = _required(RAW_SCHEMA, "amount")
    source["frame"] = orders("2026-11-21", [2])
    # The 20th still holds a NULL: the table keeps amount nullable, and the UI says so.
    assert shown_nullable(run([with_schema(required)], db, "2026-11-21"))
    is_nullable = "SELECT is_nullable FROM information_schema.columns WHERE column_name = 'amount'"
    assert query(db, is_nullable) == [("YES",)]
    source["frame"] = orders("2026-11-20", [1])
    # Re-materialized: no NULL left, NOT NULL in the table and in the UI.
    assert not shown_nullable(run([with_schema(required)], db, "2026-11-20"))
    assert query(db, is_nullable) == [("NO",)]
