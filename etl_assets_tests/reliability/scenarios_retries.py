"""Dagster-level retries of the extract step, counted at the server.

The production ``raw_records`` has ``EXTRACT_RETRY_POLICY`` (2 retries, 30 s exponential delay,
plus/minus jitter). Waiting minutes in CI proves nothing more than the policy object does, so
the behaviour runs on a copy of the same asset whose policy has the same shape and retry count
but a 0.2 s delay (``support.SHORT_RETRY_POLICY``); a test asserts the production policy itself.
"""

from __future__ import annotations

from pathlib import Path

from etl_assets_tests.fault_server import FaultServer, Reply
from etl_assets_tests.reliability.scenarios_api import bench, day_elements
from etl_assets_tests.reliability.support import (
    DAY,
    SHORT_RETRY_POLICY,
    ScenarioRow,
    api_resource,
    pipeline_assets,
    run_pipeline,
)

CLIENT_ATTEMPTS = 2  # per page, so that a 2-request outage outlasts the client's own retries
OUTCOMES = {
    "transient outage": "retried by Dagster, then succeeds",
    "token refused (401)": "fails at once, not retried",
    "contract broken (HTML 200)": "fails at once, not retried",
}


def dagster_retry(workdir: Path, case: str) -> ScenarioRow:
    """One of OUTCOMES' cases; the server counts every request."""
    elements = day_elements()
    page = Reply(json={"data": elements, "next": None})
    if case == "transient outage":
        outage = CLIENT_ATTEMPTS  # exactly the requests the first step attempt makes
        replies = [
            *(Reply(503, json={"error": "restarting"}) for _ in range(outage)),
            page,
        ]
        expected_requests, expected_attempts, should_succeed = outage + 1, 2, True
        server = FaultServer(replies)
    elif case == "token refused (401)":
        server = FaultServer(lambda _r: Reply(401, json={"error": "invalid token"}))
        expected_requests, expected_attempts, should_succeed = 1, 1, False
    else:
        server = FaultServer(lambda _r: Reply(body=b"<html><body>maintenance</body></html>"))
        expected_requests, expected_attempts, should_succeed = 1, 1, False
    row = ScenarioRow(f"Dagster retry: {case}", OUTCOMES[case])
    with bench(workdir) as b, server:
        resource = api_resource(server.url, max_attempts=CLIENT_ATTEMPTS)
        run = run_pipeline(
            DAY,
            api=resource,
            warehouse=b.warehouse,
            instance=b.instance,
            assets=pipeline_assets(SHORT_RETRY_POLICY),
        )
        row.seconds = run.seconds
        attempts = run.step_attempts()
        row.notes.append(f"{len(server.requests)} requests, {attempts} step attempts")
        if run.success != should_succeed:
            row.problems.append(f"success={run.success}: {run.failure_messages()[-1:]}")
        if (len(server.requests), attempts) != (expected_requests, expected_attempts):
            row.problems.append(
                f"{len(server.requests)} requests / {attempts} attempts, expected "
                f"{expected_requests} / {expected_attempts}"
            )
        if should_succeed and run.metadata("raw_records").get("elements_served") != len(elements):
            row.problems.append("the retried run did not load every element")
        row.problems += b.leaks([run])
    return row
