"""The worker's HTTP surface as a Faust service.

:func:`cxstream.web.app.create_web_app` (ingest, ``/healthz``, ``/readyz``, ``/metrics``,
``/stats``, the report) served by uvicorn on the worker's own event loop, started with
the app and stopped with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mode import Service

from cxstream.config import Settings
from cxstream.firing import RedisFiringAlerts
from cxstream.metrics import Metrics
from cxstream.producing import kafka_client_options
from cxstream.redis_store import RedisStateStore
from cxstream.report.build import ReportBuilder
from cxstream.report.html import render_html
from cxstream.report.sources import StoreReportSource
from cxstream.rules import RuleSet
from cxstream.rules.silences import RedisSilenceStore
from cxstream.web.app import create_web_app
from cxstream.web.health import CallableCheck
from cxstream.web.server import WebServer
from cxstream.web.sinks import AIOKafkaEventSink

__all__ = ["http_service"]


def http_service(
    settings: Settings,
    rule_set: RuleSet | None,
    metrics: Metrics,
    stats: Callable[[], dict[str, Any]],
) -> type[Service]:
    """A Faust service running the HTTP app on ``web_port`` while the worker runs.

    Faust starts it with the app (after its own startup) and stops it with the app, so
    the port is released on every clean shutdown. It owns the resources only the HTTP
    side uses: the ingest producer (also the broker's readiness check) and a Redis
    connection (the Redis readiness check and the report's data).
    """

    class HttpSurface(Service):
        server: WebServer | None = None
        sink: AIOKafkaEventSink | None = None
        store: RedisStateStore | None = None

        async def on_start(self) -> None:
            self.sink = sink = AIOKafkaEventSink(
                kafka_client_options(settings),
                idempotence=settings.web.idempotence,
                request_timeout_s=settings.web.send_timeout_s,
            )
            self.store = store = RedisStateStore.from_settings(settings)
            client = store.client
            source = StoreReportSource(
                store,
                settings.bucket_seconds,
                firing=RedisFiringAlerts(client, settings.key_prefix),
                silences=RedisSilenceStore(client, settings.key_prefix),
            )

            async def rules_loaded() -> bool | str:
                if settings.rules_dir is not None and rule_set is None:
                    return f"no rule set loaded from {settings.rules_dir}"
                return True

            web_app = create_web_app(
                settings,
                sink=sink,
                checks=[
                    CallableCheck("broker", sink.ping),
                    CallableCheck("redis", client.ping),
                    CallableCheck("rules", rules_loaded),
                ],
                metrics=metrics,
                report=ReportBuilder(source, rule_set),
                render_html=render_html,
                stats=stats,
            )
            self.server = WebServer(
                web_app,
                settings.web.host,
                settings.web_port,
                shutdown_timeout_s=settings.web.shutdown_timeout_s,
            )
            await self.server.start()

        async def on_stop(self) -> None:
            server, sink, store = self.server, self.sink, self.store
            self.server = self.sink = self.store = None
            if server is not None:
                await server.stop()
            if sink is not None:
                await sink.stop()
            if store is not None:
                await store.close()

    return HttpSurface
