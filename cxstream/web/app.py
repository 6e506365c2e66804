"""The worker's HTTP app: :func:`create_web_app` builds it from explicitly passed parts.

Endpoints (OpenAPI at ``/openapi.json``, interactive docs at ``/docs``):

======================================  ===================================================
``POST /ingest/feedback|logistics|customers``  events in (:mod:`cxstream.web.ingest`)
``GET /healthz``                        the process answers: ``{"status": "ok"}``
``GET /readyz``                         every readiness check passes (else 503 naming them)
``GET /metrics``                        Prometheus text format (:class:`~cxstream.metrics.Metrics`)
``GET /stats``                          the worker's running totals (also at ``/stats/``)
``GET /api/report?window=1d&country=DE``  the traffic-light report as JSON
``GET /report?window=1d&country=DE``    the same report as an HTML page
======================================  ===================================================

Nothing here knows about Faust: the worker (``agents/app.py``) passes its sink,
checks, metrics, stats and report provider; tests pass fakes and call the app
in-process through :class:`httpx.ASGITransport`; the same app can serve on its own
with :class:`~cxstream.web.server.WebServer`. Contracts are :class:`typing.Protocol`\\ s:
:class:`~cxstream.web.sinks.EventSink`, :class:`~cxstream.web.health.ReadinessCheck`
and :class:`ReportProvider`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Final, Protocol

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cxstream.clock import Clock, SystemClock
from cxstream.config import Settings
from cxstream.decoding import EventDecoder
from cxstream.metrics import CONTENT_TYPE, Metrics
from cxstream.report.model import Report
from cxstream.web.health import Liveness, Readiness, ReadinessCheck, run_checks
from cxstream.web.ingest import IngestService, Problem, ingest_router
from cxstream.web.sinks import EventSink

__all__ = ["RenderHtml", "ReportProvider", "StatsSource", "create_web_app"]

#: Renders a report as a whole HTML page (``cxstream.report.html.render_html`` fits).
RenderHtml = Callable[[Report], str]
#: The worker's running totals, as ``/stats`` shows them.
StatsSource = Callable[[], Mapping[str, Any]]

_WINDOW_PATTERN: Final = r"^([0-9]{1,4}[smhdw]){1,4}$"
_COUNTRY_PATTERN: Final = r"^[A-Za-z]{2}$"
#: The ``window`` query parameter of the report endpoints.
WindowParam = Annotated[
    str,
    Query(pattern=_WINDOW_PATTERN, description="window the report covers, e.g. 1h, 1d, 1h30m"),
]
#: The ``country`` query parameter of the report endpoints.
CountryParam = Annotated[
    str | None,
    Query(pattern=_COUNTRY_PATTERN, description="drill down into one country (ISO 3166-1 alpha-2)"),
]


class ReportProvider(Protocol):
    """Builds the traffic-light report (``cxstream.report``'s builder fits)."""

    async def build(self, window: str, country: str | None) -> Report:
        """The report over ``window`` (e.g. ``1d``), for all countries or one; raises
        :class:`ValueError` for a window it does not support."""
        ...


def _version() -> str:
    try:
        return version("cxstream")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status)


def create_web_app(
    settings: Settings,
    *,
    sink: EventSink | None = None,
    checks: Sequence[ReadinessCheck] = (),
    metrics: Metrics | None = None,
    report: ReportProvider | None = None,
    render_html: RenderHtml | None = None,
    stats: StatsSource | None = None,
    clock: Clock | None = None,
    decoder: EventDecoder | None = None,
) -> FastAPI:
    """The HTTP app of a worker with these settings (``settings.web`` and the topics).

    ``sink`` receives ingested events (none: ingest answers 503); ``checks`` make up
    ``/readyz``; ``metrics`` is served at ``/metrics`` and counts the HTTP requests
    (default: a fresh :class:`Metrics`); ``report`` and ``render_html`` serve the report
    (none: 503); ``stats`` gives ``/stats`` (none: 503); ``clock`` drives the rate
    limiter.
    """
    metrics = metrics if metrics is not None else Metrics()
    web = settings.web
    app = FastAPI(
        title="cxstream",
        version=_version(),
        description="HTTP surface of a cxstream worker: event ingestion, health, metrics,"
        " running totals and the traffic-light report.",
    )
    service = IngestService(
        settings, sink, clock=clock or SystemClock(), metrics=metrics, decoder=decoder
    )
    app.include_router(ingest_router(service))
    checks = list(checks)
    not_available: dict[int | str, dict[str, Any]] = {503: {"model": Problem}}

    @app.get("/healthz", tags=["health"], response_model=Liveness)
    async def healthz() -> Liveness:
        """The process is alive."""
        return Liveness()

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "a check failed"}},
    )
    async def readyz() -> JSONResponse:
        """Every readiness check (broker, Redis, rules, ...) passes."""
        result = await run_checks(checks, web.readiness_timeout_s)
        return JSONResponse(result.model_dump(mode="json"), 200 if not result.failing else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text"}},
    )
    async def prometheus_metrics() -> Response:
        """Metrics in the Prometheus text exposition format."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def stats_page() -> Response:
        """The worker's running totals (what Faust's ``/stats/`` page showed)."""
        if stats is None:
            return _problem(503, "no stats source: this app does not run beside a worker")
        return JSONResponse(dict(stats()))

    app.add_api_route(
        "/stats",
        stats_page,
        methods=["GET"],
        tags=["operations"],
        responses={200: {"content": {"application/json": {}}}, **not_available},
    )
    app.add_api_route("/stats/", stats_page, methods=["GET"], include_in_schema=False)

    async def build(window: str, country: str | None) -> Report | JSONResponse:
        if report is None:
            return _problem(503, "no report provider is configured")
        try:
            return await report.build(window, country.upper() if country else None)
        except ValueError as error:
            return _problem(422, f"cannot build the report: {error}")

    @app.get(
        "/api/report",
        tags=["report"],
        response_model=Report,
        responses={422: {"model": Problem}, **not_available},
    )
    async def api_report(
        window: WindowParam = "1d",
        country: CountryParam = None,
    ) -> Report | JSONResponse:
        """The traffic-light report as JSON."""
        return await build(window, country)

    @app.get(
        "/report",
        tags=["report"],
        response_class=HTMLResponse,
        responses={422: {"model": Problem}, **not_available},
    )
    async def html_report(
        window: WindowParam = "1d",
        country: CountryParam = None,
    ) -> Response:
        """The traffic-light report as an HTML page."""
        if render_html is None:
            return _problem(503, "no HTML renderer for the report is configured")
        built = await build(window, country)
        if isinstance(built, JSONResponse):
            return built
        return HTMLResponse(render_html(built))

    app.state.metrics = metrics
    app.state.ingest = service
    return app
