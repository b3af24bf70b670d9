"""The UI in a real browser: headless Chromium renders the sales group's lineage graph.

Chromium comes from Debian (``apt-get install chromium``; ``.ci/run`` installs it). Without it
the tests skip, unless ``ETL_REQUIRE_CHROMIUM=1`` (set in CI) makes that a failure.
``ETL_UPDATE_SCREENSHOT=1`` also loads one day first and rewrites ``docs/asset-graph.png``,
the picture the README shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import struct
import subprocess
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from etl_assets_tests.dagster_dev_server import (
    REPO_ROOT,
    DagsterDevServer,
    running_dagster_dev,
)
from etl_assets_tests.process_session import wait_for_session_exit

pytestmark = pytest.mark.slow

ASSETS = ("raw_records", "clean_records", "rejected_records", "sales_table", "daily_sales_summary")
GROUP = "sales"
SCREENSHOT_PATH = REPO_ROOT / "docs" / "asset-graph.png"
UPDATE_VARIABLE = "ETL_UPDATE_SCREENSHOT"
REQUIRE_VARIABLE = "ETL_REQUIRE_CHROMIUM"

WINDOW = (1600, 1000)
# Virtual time the page gets to fetch its GraphQL data and lay out the graph; real time is
# much shorter (about 4 s here) because idle timers are fast-forwarded.
VIRTUAL_TIME_BUDGET_MS = 15_000
CHROMIUM_TIMEOUT_SECONDS = 90
CHROMIUM_EXIT_SECONDS = 10  # for its helpers to go once the browser is gone
MIN_SCREENSHOT_BYTES = 30_000  # a blank or spinner-only 1600x1000 PNG is a few KB

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
)


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_VARIABLE}=1")
    print(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_path()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[DagsterDevServer]:
    with running_dagster_dev(tmp_path_factory.mktemp("dagster_dev_ui")) as running:
        if os.environ.get(UPDATE_VARIABLE) == "1":
            _load_one_day(running)
        yield running


@pytest.fixture(scope="module")
def group_url(server: DagsterDevServer) -> str:
    return f"{server.url}/locations/{server.location_name}/asset-groups/{GROUP}"


def test_the_lineage_graph_renders_every_asset(
    chromium: str, group_url: str, tmp_path: Path
) -> None:
    dom = run_chromium(chromium, tmp_path / "profile", "--dump-dom", group_url)
    # Each name as the text of an element (a graph node's title), not only in a script or link.
    missing = [asset for asset in ASSETS if not re.search(rf">\s*{asset}\s*</", dom)]
    assert not missing, f"not rendered: {missing}; DOM starts with {dom[:2000]}"


def test_a_screenshot_of_the_graph(chromium: str, group_url: str, tmp_path: Path) -> None:
    update = os.environ.get(UPDATE_VARIABLE) == "1"
    target = SCREENSHOT_PATH if update else tmp_path / "asset-graph.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    run_chromium(
        chromium,
        tmp_path / "profile",
        f"--screenshot={target}",
        group_url,
    )
    width, height = check_png(target.read_bytes())
    assert (width, height) == WINDOW
    assert target.stat().st_size >= MIN_SCREENSHOT_BYTES, "the page looks empty"


def run_chromium(chromium: str, profile: Path, *args: str) -> str:
    """Run headless Chromium once; return stdout. No process of it survives, even on timeout."""
    command = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        # The graph renders only the nodes in view: the window must fit the whole graph.
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *args,
    ]
    process = subprocess.Popen(
        command,
        cwd=profile.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=CHROMIUM_TIMEOUT_SECONDS)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    left = wait_for_session_exit(process.pid, CHROMIUM_EXIT_SECONDS)
    assert not left, f"chromium processes outlived SIGKILL: {left}"
    assert process.returncode == 0, stderr.decode(errors="replace")[-3000:]
    return stdout.decode(errors="replace")


def check_png(data: bytes) -> tuple[int, int]:
    """Check a PNG end to end (signature, chunk CRCs, image data size); return its size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, chunks = 8, {}
    idat = b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.setdefault(kind, body)
        if kind == b"IDAT":
            idat += body
        offset += 12 + length
    assert b"IEND" in chunks, "truncated PNG"
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    assert depth == 8, f"unexpected bit depth {depth}"
    assert len(zlib.decompress(idat)) == height * (1 + width * channels), "image data size"
    return width, height


def _load_one_day(server: DagsterDevServer) -> None:
    """For the docs picture: yesterday (UTC) loaded and summarized, as the schedule would."""
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    run_id = server.launch_assets(ASSETS[:4], day)
    assert server.wait_for_run(run_id) == "SUCCESS", server.fail(f"run {run_id} failed")
    tags = {
        "dagster/partition": day,
        "dagster/sensor_name": "sales_summary_sensor",
    }
    server.wait_for(
        "waiting for the summary of the docs day",
        lambda: next((r for r in server.runs(tags) if r["status"] == "SUCCESS"), None),
        75,
    )
