"""The demo Sales API: a stdlib HTTP server over ``orders.generate_day``, with injectable faults.

``GET /orders?start=<ISO-8601>&end=<ISO-8601>&page_size=<n>[&cursor=<opaque>]`` answers
``{"data": [...], "next": <relative URL or null>}`` with the orders whose timestamp lies in
[start, end); ``GET /health`` answers ``{"status": "ok"}``. Errors are JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hmac
import json
import math
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

from etl_assets.demo.faults import FaultConfig
from etl_assets.demo.instants import US_PER_DAY, format_instant, to_epoch_us
from etl_assets.demo.orders import DayOrders, generate_day

DAY_CACHE_SIZE = 4  # pre-serialised days kept (a 100k-order day is ~35 MB)
VIEW_CACHE_SIZE = 16  # partial-day windows kept as filtered lists
IDLE_TIMEOUT_SECONDS = 60.0  # an idle keep-alive connection is closed after this
SHUTDOWN_POLL_SECONDS = 0.05  # how soon the serving loop notices stop()
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_JSON, _HTML = "application/json; charset=utf-8", "text/html; charset=utf-8"
_HTML_PAGES = {
    "500": b"<html><body>Internal Server Error</body></html>",
    "502": b"<html><body>Bad Gateway</body></html>",
    "504": b"<html><body>Gateway Timeout</body></html>",
}
_JSON_FAULTS = {
    "429": "rate limit exceeded: retry later",
    "503": "service unavailable: retry later",
}


class _BadRequest(Exception):
    """Answered as 400 with the message."""


class DemoSalesApi:
    """The bundled demo Sales API, served from a daemon thread: ``with DemoSalesApi() as api:``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        orders_per_day: int = 500,
        seed: int = 42,
        token: str | None = None,
        default_page_size: int = 100,
        max_page_size: int = 1000,
        faults: FaultConfig | None = None,
        verbose: bool = False,
    ) -> None:
        if not 1 <= default_page_size <= max_page_size:
            raise ValueError("need 1 <= default_page_size <= max_page_size")
        if orders_per_day < 0:
            raise ValueError(f"orders_per_day must be >= 0, got {orders_per_day}")
        self.host, self.orders_per_day, self.seed = host, orders_per_day, seed
        self.default_page_size, self.max_page_size = default_page_size, max_page_size
        self.faults, self.verbose = faults or FaultConfig(), verbose
        self._token, self._port = token.encode() if token else None, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock, self._requests = threading.Lock(), 0
        self._fault_rng = random.Random(self.faults.seed)
        # lru_cache is thread-safe; a race only computes the same value twice.
        self._served_day = functools.lru_cache(DAY_CACHE_SIZE)(self._serialise_day)
        self._filtered_day = functools.lru_cache(VIEW_CACHE_SIZE)(self._filter_day)

    def start(self) -> DemoSalesApi:
        """Bind (port 0 picks a free port) and serve in a daemon thread."""
        if self._server is None:
            self._server = _Server((self.host, self._port), _Handler, self)
            poll = {"poll_interval": SHUTDOWN_POLL_SECONDS}
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs=poll, name="demo-sales-api", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; close open connections and the listening socket."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> DemoSalesApi:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the demo API is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @property
    def request_count(self) -> int:
        """HTTP requests received so far, faulted and rejected ones included."""
        with self._lock:
            return self._requests

    def day(self, d: date) -> DayOrders:
        """Elements and ground truth of one UTC day, exactly as served for the full day."""
        return generate_day(d, orders_per_day=self.orders_per_day, seed=self.seed)

    def prewarm(self, days: Iterable[date]) -> None:
        """Generate and serialise days ahead of requests (the last DAY_CACHE_SIZE stay cached)."""
        for d in days:
            self._served_day(d.toordinal())

    # Called from handler threads.

    def _count_request(self) -> None:
        with self._lock:
            self._requests += 1

    def _draw_fault(self) -> str | None:
        with self._lock:
            if self.faults.rate <= 0 or self._fault_rng.random() >= self.faults.rate:
                return None
            return self._fault_rng.choice(self.faults.kinds)

    def _authorized(self, header: str | None) -> bool:
        expected = b"Bearer " + self._token if self._token else None
        given = (header or "").encode("utf-8", "replace")
        return expected is None or hmac.compare_digest(given, expected)

    def _serialise_day(self, ordinal: int) -> tuple[list[bytes], list[int | None]]:
        """One day's elements, pre-serialised, and their timestamps for window filtering."""
        orders = self.day(date.fromordinal(ordinal))
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        return [dumps(element).encode() for element in orders.elements], orders.epoch_us

    def _filter_day(self, ordinal: int, lo: int, hi: int, anchored: bool) -> list[bytes]:
        blobs, keys = self._served_day(ordinal)
        pairs = zip(blobs, keys, strict=True)
        return [blob for blob, at in pairs if (anchored if at is None else lo <= at < hi)]

    def _view(self, ordinal: int, start_us: int, end_us: int) -> list[bytes]:
        """The elements of one day served for the window [start_us, end_us), in serving order."""
        day_us = (ordinal - _EPOCH_ORDINAL) * US_PER_DAY
        lo, hi = max(start_us, day_us), min(end_us, day_us + US_PER_DAY)
        if (lo, hi) == (day_us, day_us + US_PER_DAY):
            return self._served_day(ordinal)[0]
        # Elements without a usable timestamp are served with their day's 00:00Z.
        return self._filtered_day(ordinal, lo, hi, lo == day_us)

    def _orders_page(self, query: dict[str, list[str]]) -> bytes:
        start_us, end_us = _instant(query, "start"), _instant(query, "end")
        if end_us <= start_us:
            raise _BadRequest("end must be later than start (the window is [start, end))")
        size = self.default_page_size
        if "page_size" in query:
            text = query["page_size"][0].strip()
            if not (text.isascii() and text.isdigit()) or int(text) < 1:
                raise _BadRequest(f"page_size must be a positive integer, got {text!r}")
            size = min(int(text), self.max_page_size)
        first, last = _ordinal(start_us), _ordinal(end_us - 1)
        ordinal, offset = first, 0
        if "cursor" in query:
            ordinal, offset = _decode_cursor(query["cursor"][0], first, last)
        chunk: list[bytes] = []
        after: str | None = None
        while ordinal <= last:
            view = self._view(ordinal, start_us, end_us)
            if offset < len(view):
                if len(chunk) == size:
                    after = _encode_cursor(ordinal, offset)
                    break
                taken = view[offset : offset + size - len(chunk)]
                chunk += taken
                offset += len(taken)
                if offset < len(view):
                    after = _encode_cursor(ordinal, offset)
                    break
            ordinal, offset = ordinal + 1, 0
        following = b"null"
        if after is not None:
            params = {"start": format_instant(start_us), "end": format_instant(end_us)}
            query_text = urlencode({**params, "page_size": size, "cursor": after}, safe=":")
            following = json.dumps("/orders?" + query_text).encode()
        return b'{"data":[' + b",".join(chunk) + b'],"next":' + following + b"}"


def _instant(query: dict[str, list[str]], name: str) -> int:
    example = "2026-11-20T00:00:00Z"
    text = query.get(name, [""])[0].strip()
    if not text:
        raise _BadRequest(f"missing query parameter {name!r}: an ISO-8601 UTC time like {example}")
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", text)  # an unencoded "+02:00" arrives as " 02:00"
    try:
        moment = datetime.fromisoformat(text)
        return to_epoch_us(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    except (ValueError, OverflowError):
        raise _BadRequest(f"{name} must be an ISO-8601 time like {example}, got {text!r}") from None


def _ordinal(epoch_us: int) -> int:
    return _EPOCH_ORDINAL + epoch_us // US_PER_DAY


def _encode_cursor(ordinal: int, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{ordinal}:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, first: int, last: int) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ordinal, offset = map(int, raw.split(b":"))
    except ValueError:
        ordinal, offset = 0, -1
    if not first <= ordinal <= last or offset < 0:
        raise _BadRequest("invalid cursor: follow the 'next' URL as given, or start without one")
    return ordinal, offset


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], api: DemoSalesApi
    ) -> None:
        self.api, self._open, self._open_lock = api, set[socket.socket](), threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is routine here (timeouts, dropped faults).
        if self.api.verbose or not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End idle keep-alive connections, so that no handler thread outlives stop()."""
        with self._open_lock:
            for request in self._open:
                with contextlib.suppress(OSError):
                    request.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    server_version = "DemoSalesApi/1.0"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS

    @property
    def api(self) -> DemoSalesApi:
        return cast(_Server, self.server).api

    def parse_request(self) -> bool:
        self.api._count_request()
        return super().parse_request()

    def do_GET(self) -> None:
        length = self.headers.get("Content-Length", "0").strip()
        if length.isascii() and length.isdigit() and int(length):
            self.rfile.read(int(length))  # keep the connection in step
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        if path == "/health":
            return self._send(200, b'{"status":"ok"}')
        if path != "/orders":
            return self._error(404, f"no such resource {url.path!r}: try GET /orders or /health")
        api = self.api
        fault = api._draw_fault()
        if fault is not None:
            self.log_message("injecting fault %s", fault)
        if fault == "drop":
            self.close_connection = True
            return None
        if fault == "slow":
            time.sleep(api.faults.slow_seconds)
        elif fault in _JSON_FAULTS:
            retry_after = str(math.ceil(api.faults.retry_after_seconds))
            return self._error(int(fault), _JSON_FAULTS[fault], ("Retry-After", retry_after))
        elif fault in _HTML_PAGES:
            return self._send(int(fault), _HTML_PAGES[fault], _HTML)
        if not api._authorized(self.headers.get("Authorization")):
            return self._error(401, "missing or invalid bearer token")
        try:
            body = api._orders_page(parse_qs(url.query, keep_blank_values=True))
        except _BadRequest as error:
            return self._error(400, str(error))
        return self._send(200, body)

    def _error(self, status: int, message: str, *headers: tuple[str, str]) -> None:
        self._send(status, json.dumps({"error": message}).encode(), _JSON, *headers)

    def _send(self, status: int, body: bytes, kind: str = _JSON, *headers: tuple[str, str]) -> None:
        self.send_response(status)
        for name, value in (("Content-Type", kind), ("Content-Length", str(len(body))), *headers):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.api.verbose:
            super().log_message(format, *args)
