"""``etl-demo-api``: run the demo Sales API in the foreground."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from etl_assets.demo.faults import FAULT_KINDS, FaultConfig
from etl_assets.demo.server import DemoSalesApi


def main(argv: list[str] | None = None) -> int:
    """``etl-demo-api``: serve the demo Sales API until Ctrl-C or SIGTERM; exit 0."""
    parser = argparse.ArgumentParser(prog="etl-demo-api", description=main.__doc__)
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    add("--port", type=int, default=8765, help="0 picks a free port (default: %(default)s)")
    add("--orders-per-day", type=int, default=500, help="default: %(default)s")
    add("--seed", type=int, default=42, help="data seed (default: %(default)s)")
    token = os.environ.get("DEMO_API_TOKEN") or None
    add("--token", default=token, help="required bearer token (default: $DEMO_API_TOKEN or none)")
    add("--fault-rate", type=float, default=0.0, help="share of /orders requests that fail")
    add("--fault-kinds", default=",".join(FaultConfig.kinds), help=f"from {','.join(FAULT_KINDS)}")
    add("--max-page-size", type=int, default=1000, help="default: %(default)s")
    add("-v", "--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    try:
        faults = FaultConfig(rate=args.fault_rate, kinds=tuple(args.fault_kinds.split(",")))
        api = DemoSalesApi(
            host=args.host,
            port=args.port,
            orders_per_day=args.orders_per_day,
            seed=args.seed,
            token=args.token,
            default_page_size=min(100, args.max_page_size),
            max_page_size=args.max_page_size,
            faults=faults,
            verbose=args.verbose,
        )
    except ValueError as error:
        parser.error(str(error))
    stopping = threading.Event()
    previous = {
        s: signal.signal(s, lambda *_: stopping.set()) for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            api.start()
        except OSError as error:
            print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
            return 1
        line = f"Demo Sales API serving on {api.url} ({args.orders_per_day} orders/day, seed "
        line += f"{args.seed}) — Ctrl-C to stop"
        try:
            print(line, flush=True)
        except UnicodeEncodeError:
            print(line.replace("—", "-"), flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        api.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
