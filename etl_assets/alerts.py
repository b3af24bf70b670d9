"""Failure alerts: the text a person reads, and the Slack-compatible webhook that carries it.

Pure functions (no Dagster) so that the exact message, and that it never carries a secret, are
tested directly. The run-failure sensor in ``sensors.py`` only gathers the facts and calls these.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol
from urllib.parse import urlsplit

import requests

WEBHOOK_VARIABLE = "ETL_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 10.0
MAX_ERROR_CHARS = 500
REDACTED = "[redacted]"


class ErrorInfo(Protocol):
    """What an alert reads of an error Dagster recorded (its ``SerializableErrorInfo``)."""

    @property
    def message(self) -> str: ...
    @property
    def cls_name(self) -> str | None: ...
    @property
    def cause(self) -> ErrorInfo | None: ...
    @property
    def context(self) -> ErrorInfo | None: ...


def error_with_causes(error: ErrorInfo, depth: int = 3) -> str:
    """The first line of an error and of what caused it, on one line: a step that used up its
    retries says why (``Exceeded max_retries of 2; caused by: ...Error: the cause``)."""
    lines: list[str] = []
    found: ErrorInfo | None = error
    while found is not None and len(lines) < depth:
        lines.append((found.message.strip().splitlines() or [found.cls_name or "error"])[0])
        found = found.cause or found.context
    return "; caused by: ".join(lines)


def webhook_url(environ: Mapping[str, str] | None = None) -> str | None:
    """``ETL_ALERT_WEBHOOK_URL`` (None when unset), checked to be an http(s) URL. A webhook URL
    is itself a secret, so the error names the variable and never the value."""
    env = os.environ if environ is None else environ
    url = (env.get(WEBHOOK_VARIABLE) or "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:
        scheme, host = "", None
    if scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise ValueError(
            f"{WEBHOOK_VARIABLE} must be an http(s) URL like "
            "https://hooks.slack.com/services/..., got a value that is not one (not shown: a "
            "webhook URL is a secret)"
        )
    return url


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
    """A short, self-contained alert: which run, which day(s), which step, what error."""
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
