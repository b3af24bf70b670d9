"""SQL fragments the warehouse-side transforms share."""

from __future__ import annotations

from datetime import date, timedelta


def sql_literal(text: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def days_condition(column: str, days: list[date]) -> str:
    """SQL: ``column`` (a DATE) is one of the consecutive ``days``."""
    end = days[-1] + timedelta(days=1)
    return f"{column} >= DATE '{days[0].isoformat()}' AND {column} < DATE '{end.isoformat()}'"
