"""A scriptable HTTP server on 127.0.0.1 for testing clients against faults.

Each request is answered by the script: a list of actions used in order (one per request), or a
callable that picks the action for a request. An action is a ``Reply`` (status, JSON or raw
body, headers, optional delay) or a ``Drop`` (close the connection without answering)::

    with FaultServer([Reply(503, headers={"Retry-After": "1"}), Reply(json={"data": []})]) as srv:
        client = SalesApiClient(srv.url)
        ...
        assert len(srv.requests) == 2

Every request is recorded (method, path with query, headers, arrival time) in ``.requests``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Drop",
    "FaultServer",
    "RecordedRequest",
    "Reply",
    "always",
    "paginated",
]


@dataclass(frozen=True)
class Reply:
    """Answer with ``status``; the body is ``body`` if given, else ``json`` dumped (if not None).

    ``delay`` seconds are slept before answering (to provoke read timeouts).
    """

    status: int = 200
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0

    def payload(self) -> tuple[bytes, str]:
        """The body bytes and their default Content-Type."""
        if self.body is not None:
            return self.body, "text/plain; charset=utf-8"
        if self.json is not None:
            return json.dumps(self.json).encode(), "application/json"
        return b"", "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering, after ``delay`` seconds."""

    delay: float = 0.0


Action = Reply | Drop


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str  # path and query, as sent
    headers: Mapping[str, str]  # keys lower-cased
    received_at: float  # time.monotonic()
    body: bytes = b""  # what a POST sent

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (first value of each)."""
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}


Script = Sequence[Action] | Callable[[RecordedRequest], Action]


def always(action: Action) -> Callable[[RecordedRequest], Action]:
    """A script that answers every request with ``action``."""
    return lambda _request: action


def paginated(
    pages: Sequence[Sequence[Any]],
    *,
    next_link: Callable[[int], str] = lambda n: f"/orders?cursor={n}",
) -> list[Reply]:
    """Replies for a paginated listing: page i holds ``pages[i]`` and links to
    ``next_link(i + 2)`` (the 1-based number of the next page); the last page's next is null."""
    last = len(pages) - 1
    return [
        Reply(json={"data": list(records), "next": None if i == last else next_link(i + 2)})
        for i, records in enumerate(pages)
    ]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            received_at=time.monotonic(),
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
        )
        action = self.server.fault.record_and_pick(request)
        time.sleep(action.delay)
        if isinstance(action, Drop):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body, content_type = action.payload()
        self.send_response(action.status)
        headers = {"Content-Type": content_type, **action.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fault: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out close their end; writing to it then fails, on purpose


class FaultServer:
    """Serves ``script`` on a free port of 127.0.0.1 from a background thread until ``stop()``."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fault = self
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def record_and_pick(self, request: RecordedRequest) -> Action:
        """Record ``request`` and return the script's action for it."""
        with self._lock:
            self.requests.append(request)
            count = len(self.requests)
        if callable(self._script):
            return self._script(request)
        if count <= len(self._script):
            return self._script[count - 1]
        return Reply(418, json={"error": f"fault server: script exhausted at request {count}"})

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
