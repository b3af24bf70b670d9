"""Worst-case time bounds of a permanently failing API, from the resource and retry policy."""

from __future__ import annotations

import dagster as dg

from etl_assets.resources import SalesApiResource
from etl_assets.sources.sales_api import RetrySettings

# --------------------------------------------------------------------------------------------


def client_attempt_bound(resource: SalesApiResource, settings: RetrySettings) -> float:
    """Worst-case seconds one page request can take before the client gives up.

    No retry starts if its wait would end past ``retry_budget_seconds``, but the attempt that
    started last may still run for its connect and read timeouts. Independently, at most
    ``max_attempts`` attempts each bounded by the timeouts, separated by waits that are at most
    the Retry-After cap or the capped backoff plus jitter.
    """
    per_attempt = resource.connect_timeout_seconds + resource.read_timeout_seconds
    by_budget = resource.retry_budget_seconds + per_attempt
    waits = sum(
        max(
            settings.retry_after_max,
            min(settings.backoff_max, settings.backoff_factor * 2 ** (n - 1))
            + settings.backoff_jitter,
        )
        for n in range(1, resource.max_attempts)
    )
    by_attempts = resource.max_attempts * per_attempt + waits
    return min(by_budget, by_attempts)


def dagster_delays_bound(policy: dg.RetryPolicy) -> float:
    """Longest total wait between the step's attempts: exponential delay plus maximal jitter."""
    base = float(policy.delay or 0)
    total = 0.0
    for attempt in range(1, policy.max_retries + 1):
        delay = (2**attempt - 1) * base if policy.backoff == dg.Backoff.EXPONENTIAL else base
        if policy.backoff == dg.Backoff.LINEAR:
            delay = base * attempt
        if policy.jitter == dg.Jitter.PLUS_MINUS:
            delay += base
        total += delay
    return total


def failing_api_bound(resource: SalesApiResource, policy: dg.RetryPolicy) -> float:
    """Worst-case seconds from a permanent API failure to the failed run (per failing page)."""
    settings = RetrySettings(
        max_attempts=resource.max_attempts, total_seconds=resource.retry_budget_seconds
    )
    attempts = policy.max_retries + 1
    return attempts * client_attempt_bound(resource, settings) + dagster_delays_bound(policy)
