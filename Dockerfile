# syntax=docker/dockerfile:1
# Build: docker build -t showrunner .
# Run:   docker run --env-file .env -v showrunner-data:/data showrunner

FROM python:3.12-slim AS build
RUN pip install --no-cache-dir 'uv>=0.5,<1'
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml README.md ./
RUN uv sync --no-dev --no-install-project
COPY scriptgen ./scriptgen
COPY storage ./storage
COPY bot ./bot
RUN uv sync --no-dev

FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /app showrunner \
    && mkdir /data && chown showrunner /data
WORKDIR /app
COPY --from=build --chown=showrunner /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SHOWRUNNER_DB_PATH=/data/showrunner.db \
    SHOWRUNNER_HTTP_PORT=8080
USER showrunner
VOLUME ["/data"]
# /healthz, /readyz, /metrics and the dashboard; on the container's loopback unless
# SHOWRUNNER_HTTP_HOST=0.0.0.0 (then publish it: -p 127.0.0.1:8080:8080).
EXPOSE 8080
# Liveness: the event loop answers (a blocked loop also stops Discord's heartbeat). No curl in
# the slim image: Python's urllib, which fails on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['SHOWRUNNER_HTTP_PORT'], timeout=4)"]
# SIGTERM stops the bot gracefully: in-flight episodes are checkpointed and resume on start.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
