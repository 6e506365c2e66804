"""The worker's HTTP surface: a small FastAPI application served by uvicorn.

* :mod:`cxstream.web.app`: :func:`~cxstream.web.app.create_web_app`, the ASGI app
  (ingest, health, metrics, stats, report) built from explicitly passed dependencies;
* :mod:`cxstream.web.ingest`: ``POST /ingest/{feedback,logistics,customers}``;
* :mod:`cxstream.web.auth`, :mod:`cxstream.web.ratelimit`: who may ingest, how fast;
* :mod:`cxstream.web.health`: ``/healthz`` and ``/readyz`` with injected checks;
* :mod:`cxstream.web.sinks`: where ingested events go (Kafka);
* :mod:`cxstream.web.server`: run and stop uvicorn inside the current event loop;
* :mod:`cxstream.web.settings`: the ``web`` settings section.

This package imports only its settings eagerly, because :mod:`cxstream.config`
imports them; import the application from :mod:`cxstream.web.app`.
"""

from __future__ import annotations

from cxstream.web.settings import HmacKey, IngestToken, WebSettings

__all__ = ["HmacKey", "IngestToken", "WebSettings"]
