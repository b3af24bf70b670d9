"""The demo's time arithmetic: instants as microseconds since the epoch, written as the API
writes them (``Z``, an offset, or none)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_MS = 1_000
MS_PER_DAY = 86_400_000
US_PER_DAY = MS_PER_DAY * US_PER_MS
_NAIVE_EPOCH = datetime(1970, 1, 1)
_NO_SHIFT = timedelta(0)
_OFFSETS = {"+02:00": timedelta(hours=2), "-05:00": timedelta(hours=-5), "+00:00": timedelta(0)}


def to_epoch_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01T00:00Z of an aware datetime."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def day_start_us(day: date) -> int:
    return (day.toordinal() - EPOCH.toordinal()) * US_PER_DAY


def format_instant(epoch_us: int, offset: str = "Z") -> str:
    """ISO-8601 text of an instant: "Z", "+02:00", ... or "" (no offset, meaning UTC)."""
    moment = _NAIVE_EPOCH + timedelta(microseconds=epoch_us) + _OFFSETS.get(offset, _NO_SHIFT)
    if moment.microsecond % US_PER_MS:
        return moment.isoformat() + offset
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds") + offset
    return moment.isoformat(timespec="seconds") + offset
