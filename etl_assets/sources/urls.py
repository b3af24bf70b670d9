"""The Sales API's URLs: checking the configured base URL, query times, following ``next``."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

from etl_assets.sources.errors import SalesApiConfigError

#: Example shown when a base URL is rejected.
EXAMPLE_URL = "http://127.0.0.1:8765"


def validate_base_url(url: str, *, variable: str = "SALES_API_URL") -> str:
    """Return ``url`` stripped and without trailing slash, or raise ``ValueError`` saying why.

    The URL must be http(s) with a host, and carry no query, fragment or credentials (the token
    belongs in SALES_API_TOKEN; a URL with a password is never echoed back).
    """
    shape = f"{variable} must be an http(s) URL like {EXAMPLE_URL}"
    if not isinstance(url, str):
        raise SalesApiConfigError(f"{shape}, got {url!r}")
    cleaned = url.strip()
    try:
        parts = urlsplit(cleaned)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise SalesApiConfigError(f"{shape}, got {url!r}") from None
    if "@" in parts.netloc:
        raise SalesApiConfigError(
            f"{variable} must not contain a user name or password; "
            "put the API token in SALES_API_TOKEN"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SalesApiConfigError(f"{shape}, got {url!r}")
    if any(ch.isspace() for ch in cleaned):
        raise SalesApiConfigError(f"{shape} without spaces, got {url!r}")
    if "?" in cleaned or "#" in cleaned:
        raise SalesApiConfigError(f"{shape} without query or fragment, got {url!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def format_time(moment: datetime) -> str:
    """``moment`` in UTC, ISO-8601 with ``Z``, as the API's ``start``/``end`` expect."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def origin(url: str) -> tuple[str, str | None, int | None]:
    """Scheme, host and port (default port filled in): where a request to ``url`` goes."""
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def resolve_link(link: str, current_url: str, base_url: str) -> str:
    """The absolute URL of a ``next`` link: a query-only link continues the current path,
    any other relative link is relative to the base URL."""
    if link.startswith("?"):
        return urljoin(current_url, link)
    return urljoin(base_url + "/", link)
