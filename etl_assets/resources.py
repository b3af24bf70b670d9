"""The Sales API as a Dagster resource, configured from ``SALES_API_URL`` / ``SALES_API_TOKEN``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from etl_assets.sources.sales_api import RetrySettings, SalesApiClient, validate_base_url

URL_VARIABLE = "SALES_API_URL"
TOKEN_VARIABLE = "SALES_API_TOKEN"


class SalesApiResource(dg.ConfigurableResource):
    """Opens a :class:`SalesApiClient` with timeouts and bounded retries for each extract."""

    base_url: str = Field(description=f"Base URL of the Sales API ({URL_VARIABLE}).")
    token: str | None = Field(
        default=None,
        description=f"Bearer token ({TOKEN_VARIABLE}); no Authorization header when unset.",
    )
    page_size: int = Field(default=1000, ge=1, description="Records asked for per page.")
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(
        default=6, ge=1, description="HTTP attempts per page before the extract gives up."
    )
    retry_budget_seconds: float = Field(
        default=120.0, gt=0, description="Time one page may spend in retries, waits included."
    )
    max_pages: int = Field(
        default=100_000,
        ge=1,
        description="Pages one day may take: a never-ending chain of new next links fails here.",
    )

    @contextmanager
    def open_client(self) -> Iterator[SalesApiClient]:
        base_url = validate_base_url(self.base_url, variable=URL_VARIABLE)
        retry = RetrySettings(
            max_attempts=self.max_attempts, total_seconds=self.retry_budget_seconds
        )
        with SalesApiClient(
            base_url,
            token=self.token or None,
            page_size=self.page_size,
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            retry=retry,
            max_pages=self.max_pages,
        ) as client:
            yield client
