"""The HTTP app's other endpoints: health, readiness, metrics, stats, report, OpenAPI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from cxstream.metrics import Metrics
from cxstream.report.model import Report, ReportCell, ReportColumn, ReportRow, TrendPoint
from cxstream.web.app import create_web_app
from cxstream.web.health import CallableCheck
from tests.unit.web.helpers import (
    RecordingSink,
    bearer,
    client_for,
    dumps,
    feedback,
    logistics,
    make_settings,
)

# -- health -----------------------------------------------------------------------------


async def test_healthz_says_ok() -> None:
    async with client_for(create_web_app(make_settings())) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_every_check_passes() -> None:
    async def ok() -> bool:
        return True

    checks = [CallableCheck("broker", ok), CallableCheck("redis", ok)]
    async with client_for(create_web_app(make_settings(), checks=checks)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["failing"] == []
    assert set(body["checks"]) == {"broker", "redis"}
    assert all(c["ok"] for c in body["checks"].values())


async def test_readyz_is_503_naming_the_failing_checks() -> None:
    async def ok() -> bool:
        return True

    async def refused() -> str:
        return "no rule set loaded"

    async def broken() -> bool:
        raise ConnectionRefusedError("connection refused")

    async def hangs() -> bool:
        await asyncio.sleep(10)
        return True

    checks = [
        CallableCheck("broker", ok),
        CallableCheck("rules", refused),
        CallableCheck("redis", broken),
        CallableCheck("slow", hangs),
    ]
    settings = make_settings(readiness_timeout_s=0.05)
    async with client_for(create_web_app(settings, checks=checks)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["failing"] == ["rules", "redis", "slow"]
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["rules"]["detail"] == "no rule set loaded"
    assert "connection refused" in body["checks"]["redis"]["detail"]
    assert "timed out" in body["checks"]["slow"]["detail"]


# -- metrics ----------------------------------------------------------------------------


async def test_metrics_exposes_the_http_ingest_traffic() -> None:
    metrics = Metrics()
    app = create_web_app(make_settings(), sink=RecordingSink(), metrics=metrics)
    body = dumps([feedback("f-1"), feedback("f-2", score=99), logistics()])
    async with client_for(app) as client:
        await client.post("/ingest/feedback", content=body, headers=bearer())
        await client.post("/ingest/feedback", json=feedback())
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in [
        'cxstream_http_ingest_requests_total{endpoint="/ingest/feedback",status="200"} 1.0',
        'cxstream_http_ingest_requests_total{endpoint="/ingest/feedback",status="401"} 1.0',
        'cxstream_events_out_total{topic="cx.feedback"} 1.0',
        'cxstream_events_out_total{topic="cx.deadletter"} 2.0',
        'cxstream_deadlettered_total{reason_kind="invalid_field",source="http"} 1.0',
        'cxstream_deadlettered_total{reason_kind="wrong_kind",source="http"} 1.0',
        'cxstream_stage_seconds_count{stage="http_ingest"} 2.0',
    ]:
        assert line in text, line


async def test_metrics_names_of_every_family() -> None:
    metrics = Metrics()
    metrics.event_in("cx.feedback", 5)
    metrics.event_out("cx.alerts")
    metrics.deadlettered("kafka", "invalid JSON: trailing characters")
    metrics.observe_stage("ingest_batch", 0.02)
    metrics.score("reason_share:delivery_late", 0.97)
    metrics.action("apology_email", "decided")
    metrics.set_lags({("cx.feedback", 0): 12})
    metrics.http_request("/ingest/feedback", 429)
    async with client_for(create_web_app(make_settings(), metrics=metrics)) as client:
        text = (await client.get("/metrics")).text
    for name in [
        "cxstream_events_in_total",
        "cxstream_events_out_total",
        "cxstream_deadlettered_total",
        "cxstream_stage_seconds_bucket",
        "cxstream_detector_score_bucket",
        "cxstream_actions_total",
        "cxstream_consumer_lag",
        "cxstream_http_ingest_requests_total",
    ]:
        assert f"\n{name}{{" in text, name
    assert 'cxstream_detector_score_bucket{kpi="reason_share",le="1.0"} 1.0' in text
    assert 'cxstream_consumer_lag{partition="0",topic="cx.feedback"} 12.0' in text
    assert 'cxstream_actions_total{outcome="decided",type="apology_email"} 1.0' in text


def test_each_metrics_object_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.event_in("cx.feedback")
    assert b'topic="cx.feedback"' in one.render()
    assert b'topic="cx.feedback"' not in two.render()


def test_the_lag_gauge_follows_the_assignment_at_each_scrape() -> None:
    metrics = Metrics()
    lags = {("cx.feedback", 0): 3, ("cx.feedback", 1): 4}
    metrics.before_collect(lambda: metrics.set_lags(lags))
    assert b'partition="1"' in metrics.render()
    del lags[("cx.feedback", 1)]
    assert b'partition="1"' not in metrics.render()


def test_a_failing_refresh_does_not_break_the_scrape() -> None:
    metrics = Metrics()

    def broken() -> None:
        raise RuntimeError("consumer not started")

    metrics.before_collect(broken)
    assert b"cxstream_consumer_lag" in metrics.render()


# -- stats ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/stats", "/stats/"])
async def test_stats_returns_the_running_totals(path: str) -> None:
    totals: dict[str, Any] = {"ready": True, "received": 42, "held": 0}
    async with client_for(create_web_app(make_settings(), stats=lambda: totals)) as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.json() == totals


async def test_stats_without_a_source_is_503() -> None:
    async with client_for(create_web_app(make_settings())) as client:
        response = await client.get("/stats")
    assert response.status_code == 503


# -- report -----------------------------------------------------------------------------


def _report(window: str, country: str | None) -> Report:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    cell = ReportCell(
        kpi="nps",
        value=31.0,
        status="red",
        target=45.0,
        yellow_at=40.0,
        red_at=32.0,
        volume=812,
        higher_is_worse=False,
        alert="firing",
        alert_rules=["nps_drop"],
        trend_7d=[TrendPoint(day="2026-03-01", value=33.5)],
    )
    return Report(
        generated_at=at,
        as_of=at,
        window=window,
        window_start=datetime(2026, 3, 1, tzinfo=UTC),
        country=country,
        columns=[ReportColumn(kpi="nps", title="NPS", unit="points", higher_is_worse=False)],
        rows=[
            ReportRow(
                series="country=DE",
                segment={"country": "DE"},
                label="DE",
                level="country",
                cells=[cell],
            )
        ],
    )


class StubReports:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    async def build(self, window: str, country: str | None) -> Report:
        self.calls.append((window, country))
        if window == "1s":
            raise ValueError("window 1s is not a whole number of 15m buckets")
        return _report(window, country)


async def test_api_report_returns_the_providers_report() -> None:
    reports = StubReports()
    async with client_for(create_web_app(make_settings(), report=reports)) as client:
        response = await client.get("/api/report", params={"window": "1d", "country": "de"})
    assert response.status_code == 200, response.text
    report = Report.model_validate(response.json())
    assert report == _report("1d", "DE")
    assert reports.calls == [("1d", "DE")]


async def test_api_report_defaults_to_one_day_over_all_countries() -> None:
    reports = StubReports()
    async with client_for(create_web_app(make_settings(), report=reports)) as client:
        response = await client.get("/api/report")
    assert response.status_code == 200
    assert reports.calls == [("1d", None)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"window": "yesterday"}, "window"),
        ({"window": "1s"}, "whole number"),
        ({"country": "Germany"}, "country"),
    ],
)
async def test_api_report_refuses_an_unknown_window_with_a_message(
    params: dict[str, str], message: str
) -> None:
    async with client_for(create_web_app(make_settings(), report=StubReports())) as client:
        response = await client.get("/api/report", params=params)
    assert response.status_code == 422
    assert message in response.text


async def test_without_a_report_provider_the_report_is_503() -> None:
    async with client_for(create_web_app(make_settings())) as client:
        api = await client.get("/api/report")
        page = await client.get("/report")
    assert (api.status_code, page.status_code) == (503, 503)


async def test_report_page_is_rendered_by_the_injected_renderer() -> None:
    def render(report: Report) -> str:
        return f"<html><body>{report.window} {report.rows[0].label}</body></html>"

    app = create_web_app(make_settings(), report=StubReports(), render_html=render)
    async with client_for(app) as client:
        response = await client.get("/report", params={"window": "1h"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == "<html><body>1h DE</body></html>"


# -- OpenAPI ----------------------------------------------------------------------------


async def test_openapi_lists_the_endpoints() -> None:
    async with client_for(create_web_app(make_settings())) as client:
        schema = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    paths = schema["paths"]
    for path in ["/ingest/feedback", "/ingest/logistics", "/ingest/customers"]:
        assert "post" in paths[path]
        assert "requestBody" in paths[path]["post"]
        assert {"200", "401", "413", "429", "503"} <= set(paths[path]["post"]["responses"])
    for path in ["/healthz", "/readyz", "/metrics", "/stats", "/api/report", "/report"]:
        assert "get" in paths[path], path
    assert "/stats/" not in paths
    assert "Report" in schema["components"]["schemas"]
    assert "IngestResponse" in schema["components"]["schemas"]
    assert docs.status_code == 200
