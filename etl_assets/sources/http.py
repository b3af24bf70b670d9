"""Reading a response and putting a failure into words, at the level of requests and urllib3."""

from __future__ import annotations

from typing import Any

import requests
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

#: How much of an error body is quoted in an error message.
ERROR_TEXT_CHARS = 300
#: Size of each read of a response body (a page is hundreds of KB).
BODY_READ_BYTES = 1 << 20


def describe_failure(exc: requests.RequestException) -> str:
    """A short cause for a transport failure, e.g. ``read timed out``."""
    reason: Any = exc.args[0] if exc.args else exc  # requests wraps urllib3's error
    reason = getattr(reason, "reason", reason)  # MaxRetryError: the last failure
    if isinstance(reason, ReadTimeoutError) or isinstance(exc, requests.ReadTimeout):
        return "read timed out"
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timed out"
    if isinstance(reason, NewConnectionError):
        return f"could not connect ({reason.__cause__ or reason})"
    if isinstance(reason, ProtocolError):  # ('Connection aborted.', RemoteDisconnected(...))
        return f"connection dropped ({reason.args[-1]})"
    return f"{type(reason).__name__}: {reason}"


class PreparedGets:
    """GET requests of one session, prepared once: each request copies the prepared one and
    prepares only its URL.

    ``Session.get`` merges the session's headers, cookies, auth and hooks into every request
    anew (~0.35 ms a page, a tenth of the extraction's main thread); here that is done once,
    when the session's headers are final. Once the server has set a cookie, requests are
    prepared in full again so that the cookie is sent as ``Session.get`` would send it.
    """

    def __init__(self, session: requests.Session) -> None:
        self._session = session
        self._prepared = session.prepare_request(requests.Request("GET", "http://prepared/"))

    def get(self, url: str, **send: Any) -> requests.Response:
        """``session.get(url, **send)``, for a session whose ``trust_env`` is off."""
        if self._session.cookies:
            return self._session.get(url, **send)
        request = self._prepared.copy()
        request.prepare_url(url, None)
        return self._session.send(request, **send)


def read_body(response: requests.Response) -> None:
    """Read the whole body now, in large reads rather than requests' 10 KB ones (a page is
    hundreds of KB), with requests' own error mapping; ``.content`` then returns it."""
    try:
        body = b"".join(response.iter_content(chunk_size=BODY_READ_BYTES))
    except BaseException:
        response.close()
        raise
    response._content = body  # what Response.content caches after reading it itself
    response._content_consumed = True


def error_text(response: requests.Response) -> str:
    """``: <the server's explanation>`` (its JSON "error" field, else the start of the body)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    has_error = isinstance(body, dict) and "error" in body
    text = str(body["error"]) if has_error else response.text
    text = " ".join(text.split())
    if len(text) > ERROR_TEXT_CHARS:
        text = text[:ERROR_TEXT_CHARS] + "..."
    return f": {text}" if text else ""
