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
    SHOWRUNNER_DB_PATH=/data/showrunner.db
USER showrunner
VOLUME ["/data"]
# SIGTERM stops the bot gracefully: in-flight episodes are checkpointed and resume on start.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
