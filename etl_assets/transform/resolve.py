"""Valid versions → one row per order: the latest wins, gaps are filled from the same order only.

Most orders are served once; only orders with several versions are sorted and grouped, and only
the differing payloads of those orders are canonicalised to tell duplicates from new versions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from etl_assets.schema import CLEAN_RECORDS

# Fields a winning version may take from an earlier version of the same order, in table order.
FILLABLE_FIELDS = ("customer_id", "product", "currency", "status", "region", "quantity",
                   "unit_price", "ordered_at")  # fmt: skip
LINEAGE = ("_record_index", "_page", "_position")
_ORDER = ["order_id", "updated_at", "_record_index"]
_SORTED = orjson.OPT_SORT_KEYS


def canonical_texts(payloads: Sequence[Any]) -> list[str]:
    """One text per payload, equal exactly when the decoded JSON values are equal.

    ``json.dumps(json.loads(p), sort_keys=True)`` defines it; orjson gives the same equality much
    faster and is used for all payloads or for none (it refuses NaN and integers beyond 64 bits).
    """
    try:
        return [orjson.dumps(orjson.loads(p), option=_SORTED).decode() for p in payloads]
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError):
        return [json.dumps(json.loads(p), sort_keys=True) for p in payloads]


def _duplicates(multi: pd.DataFrame, payloads: pd.Series) -> int:
    """Valid versions identical (as decoded JSON) to an earlier one of the same order."""
    texts = payloads.iloc[multi["_row"].to_numpy()].to_numpy(dtype=object)
    keyed = pd.DataFrame({"order_id": multi["order_id"].to_numpy(), "text": texts})
    distinct = keyed.drop_duplicates(["order_id", "text"])  # same text: same value
    duplicates = len(keyed) - len(distinct)
    ambiguous = distinct.loc[distinct["order_id"].duplicated(keep=False)]
    if len(ambiguous):
        canonical = ambiguous.assign(text=canonical_texts(ambiguous["text"].tolist()))
        duplicates += len(canonical) - len(canonical.drop_duplicates(["order_id", "text"]))
    return duplicates


def _resolve_multi(multi: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders with several versions: (their clean rows indexed by order_id, their winners)."""
    multi = multi.sort_values(_ORDER, na_position="first", kind="stable")
    groups = multi.groupby("order_id", sort=True)
    winners = groups.tail(1).set_index("order_id").sort_index()
    filled = groups[list(FILLABLE_FIELDS)].last()  # last non-null value: newest version having it
    result = filled.copy()
    result["updated_at"] = winners["updated_at"]
    result["_record_index"] = winners["_record_index"]
    result["_versions"] = groups.size()
    was_missing = winners[list(FILLABLE_FIELDS)].isna().to_numpy() & filled.notna().to_numpy()
    filled_fields = np.full(len(result), None, dtype=object)
    for position in np.flatnonzero(was_missing.any(axis=1)):
        names = (n for n, gap in zip(FILLABLE_FIELDS, was_missing[position], strict=True) if gap)
        filled_fields[position] = ",".join(names)
    result["_filled_fields"] = filled_fields
    return result, winners


def resolve_versions(
    frame: pd.DataFrame, payloads: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Pick each order's winner and fill it; split off orders that stay without a timestamp.

    ``frame`` holds the valid versions (``parse_version`` columns, lineage and ``_row``, the row
    of the version in ``payloads``). Returns the clean rows (contract order and types), the
    winners of the orders without any timestamp (``order_id``, lineage, ``_row``), and how many
    versions were duplicates.
    """
    if frame.empty:
        return CLEAN_RECORDS.empty_frame(), pd.DataFrame(columns=["order_id", "_row"]), 0
    repeated = frame["order_id"].duplicated(keep=False).to_numpy()
    multi = frame.loc[repeated]
    single = frame.loc[~repeated].set_index("order_id")
    single_rows = single[[*FILLABLE_FIELDS, "updated_at", "_record_index"]].assign(
        _versions=1, _filled_fields=None
    )
    parts, winners = [single_rows], [single]
    duplicates = 0
    if len(multi):
        multi_rows, multi_winners = _resolve_multi(multi)
        parts.append(multi_rows)
        winners.append(multi_winners)
        duplicates = _duplicates(multi, payloads)
    result = pd.concat(parts) if len(parts) > 1 else parts[0]
    result = result.sort_index(kind="stable")
    winner = pd.concat(winners) if len(winners) > 1 else winners[0]

    no_timestamp = result["ordered_at"].isna().to_numpy()
    late = winner.loc[result.index[no_timestamp], [*LINEAGE, "_row"]].reset_index()
    result = result.loc[~no_timestamp].reset_index()
    result["order_date"] = result["ordered_at"].dt.tz_convert(None).dt.normalize()
    return CLEAN_RECORDS.conform(result), late, duplicates
