"""Failure alerts: the text a person reads, and the Slack-compatible webhook that carries it.

Pure functions (no Dagster) so that the exact message, and that it never carries a secret, are
tested directly. The run-failure sensor in ``sensors.py`` only gathers the facts and calls these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import requests

WEBHOOK_VARIABLE = "ETL_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 10.0
MAX_ERROR_CHARS = 500
REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every (non-trivial) secret replaced, wherever it appears."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def failure_text(
    *,
    run_id: str,
    job_name: str,
    partition: str | None,
    failed_steps: Sequence[tuple[str, str]],
    secrets: Iterable[str | None] = (),
) -> str:
    """A short, self-contained alert: which run, which day, which step, what error."""
    where = f" for partition {partition}" if partition else ""
    lines = [f":rotating_light: etl_assets run {run_id} of {job_name}{where} failed."]
    for step, error in failed_steps or [("(run)", "the run failed before any step failed")]:
        first_line = (error.strip().splitlines() or [""])[0][:MAX_ERROR_CHARS]
        lines.append(f"• step {step}: {first_line}")
    return redact("\n".join(lines), list(secrets))


def post_alert(url: str, text: str, *, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> int:
    """POST ``{"text": text}`` (Slack incoming-webhook shape); returns the HTTP status."""
    response = requests.post(url, json={"text": text}, timeout=timeout)
    response.raise_for_status()
    return response.status_code
