"""The table contracts: every column of every warehouse table, its types and what it means.

One definition serves three readers: the cleaning code (pandas dtypes), the IO manager (DuckDB
types, declared through ``dagster/column_schema``) and the Dagster UI (column descriptions). No
Dagster here: ``metadata.table_schema`` turns a contract into Dagster's ``TableSchema``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from etl_assets.contract import ORDERS, OrderContract

UTC_TIMESTAMP = "datetime64[ns, UTC]"
# Text lives in Arrow buffers, not one Python object per value: DuckDB scans it without
# conversion, and a day of payloads costs its bytes, not millions of str objects.
TEXT = "string[pyarrow]"
_ARROW_TO_PANDAS = {
    pa.string(): pd.StringDtype("pyarrow"),
    pa.large_string(): pd.StringDtype("pyarrow"),
    pa.int64(): pd.Int64Dtype(),
}
DAY = "datetime64[ns]"  # midnight of a UTC day; the IO manager casts it to DATE
COMPRESSION_TAG = "duckdb/compression"
"""Column tag naming the DuckDB compression a new table's column is created with."""
# Payload texts compress to half the size with zstd, and DuckDB writes them ~40 % faster than
# when it analyses every compression for them (a day of raw payloads: 0.9 s → 0.55 s, 96 → 45
# MB); reads are as fast.
PAYLOAD_COMPRESSION = "zstd"


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str
    pandas_dtype: str
    description: str
    compression: str | None = None  # DuckDB's choice when None
    nullable: bool = True  # False: NOT NULL in the warehouse and in the UI's column schema

    @property
    def tags(self) -> dict[str, str]:
        return {COMPRESSION_TAG: self.compression} if self.compression else {}


@dataclass(frozen=True)
class TableContract:
    """A warehouse table: its DuckDB schema, table name and columns, in order."""

    schema: str
    table: str
    columns: tuple[Column, ...]
    partition_column: str
    """The DATE column holding each row's UTC day: what a partition replace deletes by."""
    change_key: tuple[str, str] | None = None
    """(column identifying a row within a partition, noun): a partition replace counts the rows
    new, gone and changed by it as ``<noun>_new`` ... metadata (see the IO manager)."""

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """The NOT NULL columns."""
        return [column.name for column in self.columns if not column.nullable]

    def empty_frame(self) -> pd.DataFrame:
        return self.conform(pd.DataFrame())

    def from_arrow(self, table: pa.Table, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """This contract's frame from an Arrow table (say a DuckDB result); text stays in Arrow.
        ``columns``: only these of the contract's columns (say the few a check reads)."""
        if columns is not None:
            table = table.select(list(columns))
        # Timestamps and dates straight to nanoseconds, as Arrow casts them: pandas' own
        # conversion from microseconds costs ~0.1 s per column of a day of orders.
        frame = table.to_pandas(
            types_mapper=_ARROW_TO_PANDAS.get,
            date_as_object=False,
            split_blocks=True,
            coerce_temporal_nanoseconds=True,
        )
        return self.conform(frame, columns)

    def conform(self, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Exactly this contract's columns (or ``columns`` of them), in order, with their dtypes
        (missing ones all-null).

        A text column may stay categorical (dictionary-encoded text, for values repeated on
        many rows): the warehouse stores it as the contract's VARCHAR all the same.
        """
        wanted = self.columns if columns is None else [c for c in self.columns if c.name in columns]
        conformed = {}
        for column in wanted:
            if column.name in frame.columns:
                values = frame[column.name]
            else:
                values = pd.Series([None] * len(frame), index=frame.index, dtype="object")
            if not (column.pandas_dtype == TEXT and _is_categorical_text(values)):
                values = values.astype(column.pandas_dtype, copy=False)
            conformed[column.name] = values.array
        # Arrays, not Series, and copy=False: a day of rows is not copied to build the frame.
        return pd.DataFrame(conformed, index=pd.RangeIndex(len(frame)), copy=False)


def _is_categorical_text(values: pd.Series) -> bool:
    dtype = values.dtype
    return isinstance(dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(
        dtype.categories.dtype
    )


def _text(name: str, description: str, compression: str | None = None) -> Column:
    return Column(name, "VARCHAR", TEXT, description, compression)


_ORDER_DATE = Column(
    "order_date", "DATE", DAY, "UTC date of ordered_at: the partition.", nullable=False
)

RAW_RECORDS = TableContract(
    schema="raw",
    table="raw_records",
    partition_column="partition_date",
    columns=(
        Column("partition_date", "DATE", DAY, "UTC day whose window [D, D+1) was requested."),
        Column("_record_index", "BIGINT", "Int64", "Position of the element in the day's stream."),
        Column("_page", "BIGINT", "Int64", "1-based number of the page that served it."),
        Column("_position", "BIGINT", "Int64", "0-based position of the element in its page."),
        _text("_page_url", "URL of the page that served it (never carries credentials)."),
        Column("_extracted_at", "TIMESTAMP WITH TIME ZONE", UTC_TIMESTAMP, "When it was fetched."),
        _text("_run_id", "Dagster run that extracted it."),
        _text("payload_type", "JSON type of the element: object, array, string, number, ..."),
        _text(
            "payload",
            "The element as served, as compact JSON text (unknown fields kept; README).",
            PAYLOAD_COMPRESSION,
        ),
    ),
)

_PANDAS_DTYPES = {"integer": "Int64", "number": "float64", "text": TEXT, "timestamp": UTC_TIMESTAMP}


def order_columns(contract: OrderContract) -> tuple[Column, ...]:
    """One column per field of the order contract, and ``order_date`` after the placed one."""
    columns: list[Column] = []
    for field in contract.fields:
        columns.append(
            Column(
                field.column_name,
                field.duckdb_type,
                _PANDAS_DTYPES[field.kind],
                field.description,
                nullable=not field.required,
            )
        )
        if field.role == "placed":
            columns.append(_ORDER_DATE)
    return tuple(columns)


def clean_records_table(contract: OrderContract) -> TableContract:
    """``staging.clean_records`` for an order contract: its columns, then the cleaning's own."""
    return TableContract(
        schema="staging",
        table="clean_records",
        partition_column="order_date",
        columns=(
            *order_columns(contract),
            Column(
                "_record_index",
                "BIGINT",
                "Int64",
                "raw_records._record_index of the winning version.",
            ),
            Column("_versions", "BIGINT", "Int64", "Valid elements served for this order (≥ 1)."),
            _text(
                "_filled_fields",
                "Fields missing in the winning version and taken from an earlier version.",
            ),
        ),
    )


AMOUNT = Column(
    "amount", "DOUBLE", "float64", "quantity × unit_price, in currency.", nullable=False
)


def sales_table_contract(contract: OrderContract) -> TableContract:
    """``mart.sales_table``: the order columns with ``amount`` before the placed instant."""
    columns = list(order_columns(contract))
    columns.insert(
        columns.index(next(c for c in columns if c.name == contract.placed.column_name)), AMOUNT
    )
    return TableContract(
        schema="mart",
        table="sales_table",
        partition_column="order_date",
        columns=(
            *columns,
            Column(
                "_loaded_at", "TIMESTAMP WITH TIME ZONE", UTC_TIMESTAMP, "When this row was loaded."
            ),
            _text("_run_id", "Dagster run that loaded this row."),
        ),
        change_key=(contract.key.column_name, "orders"),
    )


CLEAN_RECORDS = clean_records_table(ORDERS)

REJECTED_RECORDS = TableContract(
    schema="staging",
    table="rejected_records",
    partition_column="partition_date",
    columns=(
        Column("partition_date", "DATE", DAY, "UTC day whose extract served the element."),
        Column("_record_index", "BIGINT", "Int64", "raw_records._record_index of the element."),
        Column("_page", "BIGINT", "Int64", "Page that served it."),
        Column("_position", "BIGINT", "Int64", "Position in that page."),
        _text("order_id", "The element's order_id as served (text), when it had one."),
        _text("reason_code", "Machine-readable cause, e.g. quantity_not_integer."),
        _text("reason", "Human-readable cause(s), e.g. quantity 'three' is not an integer."),
        _text("payload", "The element as served, as compact JSON text.", PAYLOAD_COMPRESSION),
    ),
)

SALES_TABLE = sales_table_contract(ORDERS)

DAILY_SALES_SUMMARY = TableContract(
    schema="mart",
    table="daily_sales_summary",
    partition_column="order_date",
    columns=(
        Column("order_date", "DATE", DAY, "UTC day of the orders: the partition."),
        _text("region", "Sales region (NULL: not served)."),
        _text("product", "Product (NULL: not served)."),
        _text("currency", "Currency of revenue (NULL: not served); never summed across."),
        Column("orders", "BIGINT", "Int64", "Orders of the day in this group."),
        Column("units", "BIGINT", "Int64", "Sum of quantity."),
        Column("revenue", "DOUBLE", "float64", "Sum of amount, in currency."),
        Column(
            "rejected_rows", "BIGINT", "Int64", "Rows rejected that day (on each row: not to sum)."
        ),
    ),
)

ALL_TABLES = (RAW_RECORDS, CLEAN_RECORDS, REJECTED_RECORDS, SALES_TABLE, DAILY_SALES_SUMMARY)
