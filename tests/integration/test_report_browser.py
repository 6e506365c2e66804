"""The traffic-light report, looked at the way a CX lead looks at it: in a browser.

A real worker (real broker, real Redis, the shipped rules) processes a generated shop
stream in which one carrier in one country starts delivering late; the report page it
serves is opened in headless Chromium, and the cell of that carrier's late-delivery
rate must be shown red, while the same KPI of the other carriers there is not. A
screenshot of the page is saved (set ``CXSTREAM_REPORT_SCREENSHOT=docs/images/report.png``
to refresh the README's).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxstream.generator import GeneratorConfig, generate_lines, write_jsonl
from cxstream.generator.incidents import CarrierDelayIncident
from cxstream.producing import produce_files
from cxstream.report.model import STATUS_COLOURS
from cxstream.worker_process import WorkerProcess
from tests.integration.worker_settings import worker_test_settings
from tests.servers.browser import HeadlessChromium, chromium_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = Path(__file__).resolve().parents[2] / "rules"
START = datetime(2026, 3, 2, tzinfo=UTC)
# Parcels due from the onset on arrive a day late: the late deliveries come in on the
# last day of the stream (a Saturday; there are no deliveries on Sundays).
ONSET = datetime(2026, 3, 6, 4, tzinfo=UTC)
END = datetime(2026, 3, 8, tzinfo=UTC)
INCIDENT = "country=DE,carrier=dhl"


def _browser() -> str:
    binary = chromium_path()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium for the report test (.ci/run installs it)")
        pytest.skip("no chromium on PATH: apt-get install chromium")
    return binary


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


def _cell(report: dict[str, Any], series: str, kpi: str) -> dict[str, Any] | None:
    for row in report["rows"]:
        if row["series"] == series:
            return next((c for c in row["cells"] if c["kpi"] == kpi), None)
    return None


async def _report_once_complete(base: str, wait_s: float) -> dict[str, Any]:
    """The DE report once it covers the whole stream (its last day, a Saturday)."""
    deadline = time.monotonic() + wait_s
    data: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while time.monotonic() < deadline:
            response = await client.get("/api/report", params={"window": "1d", "country": "DE"})
            if response.status_code == 200:
                data = response.json()
                if data["as_of"].startswith(END.date().isoformat()):
                    return data
            await asyncio.sleep(1.0)
    raise AssertionError(f"the report never reached the end of the stream: {data.get('as_of')}")


async def test_the_report_page_shows_the_late_carrier_red(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    binary = _browser()
    settings = worker_test_settings(kafka_bootstrap, redis_url, rules_dir=RULES)
    config = GeneratorConfig(
        start=START,
        days=6,
        seed=5,
        orders_per_day=2500,
        incidents=(
            CarrierDelayIncident(
                country="DE", carrier="dhl", start=ONSET, end=END, extra_delay_days=1.0
            ),
        ),
    )
    events = tmp_path / "events.jsonl"
    write_jsonl(generate_lines(config), events)
    produced = await produce_files([events], settings)

    worker = WorkerProcess(settings, tmp_path).start()
    try:
        worker.wait_until(
            lambda s: (
                s.get("received", 0) >= produced.total - produced.dead_lettered
                and s.get("held", 1) == 0
            ),
            240,
            "all events processed",
        )
        base = f"http://127.0.0.1:{worker.port}"
        data = await _report_once_complete(base, wait_s=120)
        incident = _cell(data, INCIDENT, "late_rate")
        assert incident is not None
        assert (incident["status"], incident["volume"] >= 20) == ("red", True), incident
        others = [
            _cell(data, row["series"], "late_rate")
            for row in data["rows"]
            if row["level"] == "country+carrier" and row["series"] != INCIDENT
        ]
        assert others
        assert all(c is not None and c["status"] != "red" for c in others), others

        async with HeadlessChromium(binary) as browser:
            await browser.open(f"{base}/report?window=1d&country=DE")
            seen = await browser.evaluate(
                f"""(() => {{
                const cell = document.querySelector(
                    'td.cell[data-series="{INCIDENT}"][data-kpi="late_rate"]');
                if (!cell) return null;
                const box = cell.getBoundingClientRect();
                return {{status: cell.dataset.status,
                         colour: getComputedStyle(cell).backgroundColor,
                         text: cell.innerText, visible: box.width > 0 && box.height > 0}};
            }})()"""
            )
            assert seen is not None, "no late-rate cell for DE / dhl on the page"
            assert (seen["status"], seen["visible"]) == ("red", True)
            assert seen["colour"] == _rgb(STATUS_COLOURS["red"])
            assert "%" in seen["text"]
            shot = await browser.screenshot(tmp_path / "report.png")
            assert shot.startswith(b"\x89PNG")
            if target := os.environ.get("CXSTREAM_REPORT_SCREENSHOT"):
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                Path(target).write_bytes(shot)

            # The overview: DE's own late rate is red too, and links to the drill-down.
            await browser.open(f"{base}/report?window=1d")
            overview = await browser.evaluate(
                """(() => {
                const cell = document.querySelector(
                    'td.cell[data-series="country=DE"][data-kpi="late_rate"]');
                const link = [...document.querySelectorAll('a')].find(
                    a => a.getAttribute('href').includes('country=DE'));
                return {status: cell && cell.dataset.status, link: !!link};
            })()"""
            )
            assert overview == {"status": "red", "link": True}
    finally:
        worker.stop()
    assert worker.returncode == 0, worker.log_tail()
