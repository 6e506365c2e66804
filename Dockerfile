# cxstream worker image: `docker run IMAGE worker` (the entrypoint is the cxstream CLI).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cxstream ./cxstream
COPY agents ./agents
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 cxstream
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY rules /etc/cxstream/rules
USER cxstream
WORKDIR /home/cxstream
# The shipped rule set; mount your own over /etc/cxstream/rules (check it first with
# `cxstream rules check DIR`: the worker refuses to start on an invalid rule).
ENV CXSTREAM_DATADIR=/home/cxstream/data \
    CXSTREAM_WEB_PORT=6066 \
    CXSTREAM_RULES_DIR=/etc/cxstream/rules
EXPOSE 6066
# Liveness; orchestrators that tell liveness from readiness should use /readyz for the latter.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/healthz', timeout=3)"
ENTRYPOINT ["cxstream"]
CMD ["worker"]
