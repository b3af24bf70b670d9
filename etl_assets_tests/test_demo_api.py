"""The bundled demo Sales API: data generator, ground truth, and the HTTP contract over loopback."""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from etl_assets.demo import DayOrders, DemoSalesApi, FaultConfig, generate_day
from etl_assets.demo.cli import main
from etl_assets.demo.faults import FAULT_KINDS
from etl_assets.demo.instants import to_epoch_us
from etl_assets.demo.orders import INVALID_KINDS

DAY = date(2026, 11, 20)
SEED = 7
ORDERS_PER_DAY = 500
FULL_DAY = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}


@pytest.fixture(scope="module")
def api() -> Iterator[DemoSalesApi]:
    with DemoSalesApi(orders_per_day=ORDERS_PER_DAY, seed=SEED) as server:
        yield server


@pytest.fixture(scope="module")
def day(api: DemoSalesApi) -> DayOrders:
    return api.day(DAY)


def fetch_all(base: str, params: dict[str, str | int], session: requests.Session) -> list[object]:
    """Follow ``next`` to the end; every page must be a 200 with the contract's shape."""
    response = session.get(f"{base}/orders", params=params, timeout=10)
    collected: list[object] = []
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"data", "next"}
        collected += page["data"]
        if page["next"] is None:
            return collected
        assert page["next"].startswith("/orders?")
        response = session.get(base + page["next"], timeout=10)


def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 time in UTC; no offset means UTC."""
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def timestamp_of(element: object) -> datetime | None:
    try:
        return parse_timestamp(element["timestamp"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None


def served_for_window(day: DayOrders, start: datetime, end: datetime) -> list[object]:
    """The contract, restated: timestamp in [start, end); the rest goes with its day's 00:00Z."""
    midnight = datetime(day.day.year, day.day.month, day.day.day, tzinfo=UTC)
    served = []
    for element in day.elements:
        moment = timestamp_of(element)
        if moment is None or moment.date() != day.day:
            moment = midnight
        if start <= moment < end:
            served.append(element)
    return served


# -- generator and ground truth ------------------------------------------------------------------


def test_same_seed_and_day_give_the_same_elements() -> None:
    first = generate_day(DAY, orders_per_day=300, seed=SEED)
    again = generate_day(DAY, orders_per_day=300, seed=SEED)
    assert json.dumps(first.elements) == json.dumps(again.elements)
    assert first.valid_order_ids == again.valid_order_ids
    next_day = generate_day(DAY + timedelta(days=1), orders_per_day=300, seed=SEED)
    other_seed = generate_day(DAY, orders_per_day=300, seed=SEED + 1)
    assert json.dumps(next_day.elements) != json.dumps(first.elements)
    assert json.dumps(other_seed.elements) != json.dumps(first.elements)
    assert not next_day.valid_order_ids & first.valid_order_ids


@pytest.mark.parametrize("orders_per_day", [0, 1, 10, 50, 500, 3000])
def test_ground_truth_accounts_for_every_element(orders_per_day: int) -> None:
    for offset in range(3):
        truth = generate_day(DAY + timedelta(days=offset), orders_per_day=orders_per_day, seed=1)
        served, valid = len(truth.elements), len(truth.valid_order_ids)
        assert served == valid + truth.rejected_count + truth.redundant_count
        assert set(truth.latest_status) == truth.valid_order_ids == set(truth.expected_records)
        cents = sum(
            round(float(r["quantity"]) * float(r["unit_price"]) * 100)  # type: ignore[arg-type]
            for r in truth.expected_records.values()
        )
        assert truth.expected_amount_total == pytest.approx(cents / 100, abs=0.005)
        if orders_per_day >= 50:  # each invalid kind at least once, plus the previous-day record
            assert truth.rejected_count >= len(INVALID_KINDS) + 1


def test_ground_truth_agrees_with_the_served_elements(day: DayOrders) -> None:
    versions: dict[int, list[dict[str, object]]] = {}
    for element in day.elements:
        if isinstance(element, dict) and "order_id" in element:
            versions.setdefault(int(element["order_id"]), []).append(element)  # type: ignore[call-overload]
    assert day.valid_order_ids <= set(versions)
    for order_id in day.valid_order_ids:
        history = sorted(versions[order_id], key=lambda v: parse_timestamp(str(v["updated_at"])))
        winner = history[-1]
        assert winner["status"] == day.latest_status[order_id]
        assert len({v["timestamp"] for v in history}) == 1
        for name in ("customer_id", "region", "currency"):
            known = [v[name] for v in history if v.get(name) is not None]
            assert day.expected_records[order_id][name] == (known[-1] if known else None)
        assert parse_timestamp(str(winner["updated_at"])) >= parse_timestamp(
            str(winner["timestamp"])
        )


def test_the_dirt_is_there() -> None:
    truth = generate_day(DAY, orders_per_day=3000, seed=SEED)
    objects = [e for e in truth.elements if isinstance(e, dict)]
    texts = [json.dumps(e, ensure_ascii=False) for e in truth.elements]
    stamps = [str(e.get("timestamp")) for e in objects]
    assert len(texts) > len(set(texts))  # exact duplicates
    assert len(objects) < len(truth.elements)  # non-objects
    assert any(isinstance(e.get("quantity"), str) for e in objects)
    assert any(isinstance(e.get("order_id"), str) for e in objects)
    assert any(
        "coupon" in e or "gift_wrap" in e or "channel" in e or "points" in e for e in objects
    )
    assert any(e.get("region", "") is None or "region" not in e for e in objects)
    assert {"Île-de-France", "München"} <= {e.get("region") for e in objects}
    assert any("DROP TABLE" in str(e.get("product")) for e in objects)
    assert any(s.endswith("+02:00") for s in stamps) and any(s.endswith("-05:00") for s in stamps)
    assert any(re.fullmatch(r"[\d\-]+T[\d:.]+", s) for s in stamps)  # no offset: UTC
    assert "2026-11-20T00:00:00Z" in stamps and "2026-11-20T23:59:59.999Z" in stamps
    moments = [timestamp_of(e) for e in objects]
    assert sum(1 for t in moments if t is not None and t.date() < DAY) == 1  # the server bug
    newest: dict[str, datetime] = {}
    out_of_order = False
    for e in objects:  # a newer version served before an older one
        key, updated = str(e.get("order_id")), parse_timestamp(str(e["updated_at"]))
        out_of_order |= key in newest and updated < newest[key]
        newest[key] = max(newest.get(key, updated), updated)
    assert out_of_order


# -- HTTP contract -------------------------------------------------------------------------------


def test_paging_a_full_day_serves_exactly_the_days_elements(
    api: DemoSalesApi, day: DayOrders
) -> None:
    before = api.request_count
    with requests.Session() as session:
        collected = fetch_all(api.url, {**FULL_DAY, "page_size": 37}, session)
    assert collected == day.elements
    assert api.request_count - before == math.ceil(len(day.elements) / 37)


def test_page_size_is_capped_and_defaulted() -> None:
    with DemoSalesApi(orders_per_day=1500, seed=SEED, max_page_size=250) as api:
        capped = requests.get(f"{api.url}/orders", {**FULL_DAY, "page_size": 5000}, timeout=10)
        default = requests.get(f"{api.url}/orders", FULL_DAY, timeout=10)
    assert len(capped.json()["data"]) == 250 and "page_size=250" in capped.json()["next"]
    assert len(default.json()["data"]) == 100
    assert capped.headers["Content-Type"] == "application/json; charset=utf-8"
    assert int(capped.headers["Content-Length"]) == len(capped.content)
    assert "Île-de-France".encode() in capped.content or "München".encode() in capped.content


def test_a_six_hour_window_serves_only_orders_inside_it(api: DemoSalesApi, day: DayOrders) -> None:
    start, end = datetime(2026, 11, 20, 6, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC)
    params = {"start": "2026-11-20T06:00:00Z", "end": "2026-11-20T12:00:00+00:00", "page_size": 40}
    with requests.Session() as session:
        collected = fetch_all(api.url, params, session)
    assert collected
    assert all(start <= timestamp_of(e) < end for e in collected)  # type: ignore[operator]
    assert collected == served_for_window(day, start, end)
    positions = day.window_positions(to_epoch_us(start), to_epoch_us(end))
    assert collected == [day.elements[i] for i in positions]


def test_elements_without_a_usable_timestamp_go_with_their_days_midnight(
    api: DemoSalesApi, day: DayOrders
) -> None:
    morning = {"start": FULL_DAY["start"], "end": "2026-11-20T06:00:00Z"}
    day_before = {"start": "2026-11-19T00:00:00Z", "end": FULL_DAY["start"]}
    with requests.Session() as session:
        served_morning = fetch_all(api.url, morning, session)
        served_day_before = fetch_all(api.url, day_before, session)
    unusable = [e for e in day.elements if (t := timestamp_of(e)) is None or t.date() != DAY]
    assert len(unusable) >= 3  # bad timestamps, non-objects, the previous-day record
    assert all(e in served_morning for e in unusable)
    assert not any(e in served_day_before for e in unusable)


def test_a_window_across_midnight_pages_across_days(api: DemoSalesApi) -> None:
    start, end = datetime(2026, 11, 20, 18, tzinfo=UTC), datetime(2026, 11, 21, 6, tzinfo=UTC)
    params = {"start": "2026-11-20T18:00:00Z", "end": "2026-11-21T06:00:00Z", "page_size": 33}
    with requests.Session() as session:
        collected = fetch_all(api.url, params, session)
    days = (api.day(DAY), api.day(DAY + timedelta(days=1)))
    assert collected == [e for d in days for e in served_for_window(d, start, end)]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"start": FULL_DAY["start"]},
        {"start": "yesterday", "end": FULL_DAY["end"]},
        {"start": FULL_DAY["end"], "end": FULL_DAY["start"]},
        {"start": FULL_DAY["start"], "end": FULL_DAY["start"]},
        {**FULL_DAY, "page_size": "0"},
        {**FULL_DAY, "page_size": "-5"},
        {**FULL_DAY, "page_size": "ten"},
        {**FULL_DAY, "page_size": "\u00b2"},
        {**FULL_DAY, "cursor": "not-a-cursor"},
    ],
)
def test_bad_parameters_get_400_with_a_json_error(
    api: DemoSalesApi, params: dict[str, str]
) -> None:
    response = requests.get(f"{api.url}/orders", params=params, timeout=10)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str) and response.json()["error"]


def test_unknown_paths_get_404_and_health_answers(api: DemoSalesApi) -> None:
    missing = requests.get(f"{api.url}/customers", timeout=10)
    assert missing.status_code == 404 and "error" in missing.json()
    assert requests.get(f"{api.url}/health", timeout=10).json() == {"status": "ok"}


def test_a_configured_token_is_required() -> None:
    with DemoSalesApi(orders_per_day=20, token="s3cret") as api:
        url = f"{api.url}/orders"
        anonymous = requests.get(url, FULL_DAY, timeout=10)
        wrong = requests.get(url, FULL_DAY, headers={"Authorization": "Bearer nope"}, timeout=10)
        right = requests.get(url, FULL_DAY, headers={"Authorization": "Bearer s3cret"}, timeout=10)
    for refused in (anonymous, wrong):
        assert refused.status_code == 401
        assert refused.json() == {"error": "missing or invalid bearer token"}
    assert right.status_code == 200 and len(right.json()["data"]) == len(api.day(DAY).elements)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_is_observable(kind: str) -> None:
    faults = FaultConfig(rate=1.0, kinds=(kind,), retry_after_seconds=0.2, slow_seconds=0.3)
    with DemoSalesApi(orders_per_day=20, faults=faults) as api:
        assert requests.get(f"{api.url}/health", timeout=10).status_code == 200  # never faulted
        if kind == "drop":
            with pytest.raises(requests.ConnectionError):
                requests.get(f"{api.url}/orders", FULL_DAY, timeout=10)
            return
        began = time.monotonic()
        response = requests.get(f"{api.url}/orders", FULL_DAY, timeout=10)
    if kind == "slow":
        assert time.monotonic() - began >= 0.3 and response.status_code == 200
    elif kind in ("429", "503"):
        assert response.status_code == int(kind) and response.headers["Retry-After"] == "1"
        assert "error" in response.json()
    else:
        assert response.status_code == int(kind)
        assert response.headers["Content-Type"].startswith("text/html")
    if kind == "500":
        assert response.text == "<html><body>Internal Server Error</body></html>"


def test_faults_are_seeded_and_partial() -> None:
    def statuses() -> list[int]:
        faults = FaultConfig(rate=0.5, kinds=("500", "503"), seed=3)
        with DemoSalesApi(orders_per_day=5, faults=faults) as api, requests.Session() as s:
            return [s.get(f"{api.url}/orders", FULL_DAY, timeout=10).status_code for _ in range(40)]

    first = statuses()
    assert first == statuses()
    assert {200, 500, 503} == set(first)


def test_stop_closes_the_port_and_keep_alive_connections() -> None:
    api = DemoSalesApi(orders_per_day=5).start()
    url = api.url
    with requests.Session() as session:
        assert session.get(f"{url}/health", timeout=10).status_code == 200
        api.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(f"{url}/health", timeout=10)
    api.stop()  # idempotent


def test_main_rejects_bad_options() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--fault-rate", "2"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_main_serves_until_signalled_and_exits_0(signum: signal.Signals) -> None:
    command = [sys.executable, "-m", "etl_assets.demo", "--port", "0", "--orders-per-day", "50"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.fullmatch(
            r"Demo Sales API serving on (http://127\.0\.0\.1:\d+) \(50 orders/day, seed 42\) "
            r"— Ctrl-C to stop\n",
            banner,
        )
        assert match, banner
        response = requests.get(f"{match[1]}/orders", FULL_DAY, timeout=10)
        assert response.status_code == 200 and response.json()["data"]
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
    assert process.stderr is not None and process.stderr.read() == ""


def test_throughput_smoke() -> None:
    """Prints orders/s for a cached 20k-order day at page_size 1000 (no timing assertion)."""
    with DemoSalesApi(orders_per_day=20_000, seed=SEED) as api, requests.Session() as session:
        params = {**FULL_DAY, "page_size": 1000}
        fetch_all(api.url, params, session)  # generate and serialise the day
        began = time.perf_counter()
        served = len(fetch_all(api.url, params, session))
        seconds = time.perf_counter() - began
    print(f"\ndemo API throughput: {served / seconds:,.0f} orders/s ({served} in {seconds:.2f} s)")
    assert served == len(api.day(DAY).elements)
